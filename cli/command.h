// A table of subcommands, each with its own flags, its usage line and what
// it runs: `dxctl audit proof --tree-size 9 12` is parsed against proof's
// flags only, so a flag that belongs to another subcommand is an error
// naming it, and `--help` lists each subcommand's own.
#ifndef DX_CLI_COMMAND_H_
#define DX_CLI_COMMAND_H_

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "cli/flags.h"

namespace dx::cli {

struct Command {
  std::string name;
  // "proof SEQ [--tree-size N] [--json]".
  std::string usage;
  // What it does, in a line or two.
  std::string help;
  // Value flags and boolean flags of its own (the table's common ones are
  // added).
  std::set<std::string> flags;
  std::set<std::string> booleans;
  // Those of `flags` that take a whole number: checked before anything
  // runs, so that a mistyped number is a usage error naming the flag.
  std::set<std::string> numbers;
  // Runs with the flags parsed; positional() holds the arguments after the
  // subcommand's name. Returns the exit code (cli/output.h).
  std::function<int(const Flags&)> run;
  // Instead of `run`: a command with a table or flags of its own (dxctl's
  // top level) gets the arguments after its name as they are.
  std::function<int(const std::vector<std::string>&)> pass_through = nullptr;
};

struct CommandTable {
  // "audit": printed in messages as "dxctl audit: ...".
  // Empty for dxctl's top level ("dxctl: ...").
  std::string tool;
  // Printed before the list of subcommands.
  std::string preamble;
  // Printed after it (how to connect, and so on).
  std::string footer;
  // Flags every subcommand accepts (the connection).
  std::set<std::string> common_flags;
  std::set<std::string> common_booleans;
  std::vector<Command> commands;
};

// The help text: the preamble, each subcommand's usage and help, the footer.
std::string HelpOf(const CommandTable& table);

// Finds args[0] in the table, parses the rest with its flags, runs it.
// "--help" (alone or after a subcommand) prints help and returns 0; an
// unknown subcommand or flag is a usage error (2).
int Dispatch(const CommandTable& table, const std::vector<std::string>& args);

}  // namespace dx::cli

#endif  // DX_CLI_COMMAND_H_
