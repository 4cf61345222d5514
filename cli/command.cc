#include "cli/command.h"

#include <iostream>

#include "absl/strings/str_cat.h"
#include "cli/output.h"
#include "i18n/catalogue.h"

namespace dx::cli {
namespace {

std::string Indent(const std::string& text, const std::string& pad) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    absl::StrAppend(&out, pad, text.substr(start, end - start), "\n");
    start = end + 1;
  }
  return out;
}

// "dxctl audit" ("dxctl" at the top level).
std::string Prog(const CommandTable& table) {
  return table.tool.empty() ? "dxctl" : absl::StrCat("dxctl ", table.tool);
}

}  // namespace

std::string HelpOf(const CommandTable& table) {
  std::string out = table.preamble;
  for (const Command& c : table.commands) {
    absl::StrAppend(&out, "  ", c.usage, "\n", Indent(c.help, "        "));
  }
  absl::StrAppend(&out, table.footer);
  return out;
}

int Dispatch(const CommandTable& table, const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    std::cout << HelpOf(table);
    return args.empty() ? kExitUsage : kExitOk;
  }
  const Command* command = nullptr;
  for (const Command& c : table.commands) {
    if (c.name == args[0]) command = &c;
  }
  if (command == nullptr) {
    std::cerr << Prog(table) << ": "
              << i18n::Text(i18n::FromEnvironment(), "dxctl.unknown_command",
                            {{"command", args[0]}})
              << "\n"
              << HelpOf(table);
    return kExitUsage;
  }
  if (command->pass_through) {
    return command->pass_through({args.begin() + 1, args.end()});
  }
  std::set<std::string> flags = command->flags;
  flags.insert(table.common_flags.begin(), table.common_flags.end());
  std::set<std::string> booleans = command->booleans;
  booleans.insert(table.common_booleans.begin(), table.common_booleans.end());
  booleans.insert("help");
  auto parsed = Flags::Parse({args.begin() + 1, args.end()}, flags, booleans);
  if (!parsed.ok()) {
    std::cerr << Prog(table) << " " << command->name << ": "
              << parsed.status().message() << "\n"
              << i18n::Text(i18n::FromEnvironment(), "dxctl.usage") << ": "
              << Prog(table) << " " << command->usage << "\n";
    return kExitUsage;
  }
  for (const std::string& n : command->numbers) {
    if (auto v = parsed->GetUint(n); !v.ok()) {
      std::cerr << Prog(table) << " " << command->name << ": "
                << v.status().message() << "\n";
      return kExitUsage;
    }
  }
  if (parsed->Has("help")) {
    std::cout << "usage: " << Prog(table) << " " << command->usage << "\n"
              << Indent(command->help, "  ") << table.footer;
    return kExitOk;
  }
  return command->run(*parsed);
}

}  // namespace dx::cli
