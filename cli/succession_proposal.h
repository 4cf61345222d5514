// The policy change that carries an old agency's grants and group
// memberships to its successors (registry successions): what
// `dxctl policy propose-succession OLD` shows and submits through the
// ordinary Apply, so that review and the two-person rule apply to it as to
// any other change. Pure (no I/O), so that it is unit-tested alone.
#ifndef DX_CLI_SUCCESSION_PROPOSAL_H_
#define DX_CLI_SUCCESSION_PROPOSAL_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dx/v1/policy.pb.h"
#include "dx/v1/registry.pb.h"

namespace dx::cli {

struct SuccessionProposal {
  // The successors, from the registry.
  std::vector<std::string> successors;
  // What Apply receives: each dataset policy touched, whole (Apply
  // replaces a dataset's policy), and the directory when a group changed.
  // Empty when everything is already carried.
  v1::PolicyDocument change;
  // One line per rule copied, and per rule a reviewer must look at by hand
  // (patterns, forbids, row-filter attributes), for the proposer.
  std::vector<std::string> notes;
};

// Every grant that names `old_code` gets a copy for each successor, right
// after it (the first matching grant decides), with id "ID@SUCCESSOR" and
// consumers [SUCCESSOR]: same purposes, fields, masks, row filter, window
// and quota (its own counters). Every group listing `old_code` gets the
// successors. Idempotent: a copy already present is not made again.
// INVALID_ARGUMENT when the registry has no succession for `old_code`.
absl::StatusOr<SuccessionProposal> ProposeSuccession(
    const v1::PolicyDocument& current, const v1::Registry& registry,
    const std::string& old_code);

}  // namespace dx::cli

#endif  // DX_CLI_SUCCESSION_PROPOSAL_H_
