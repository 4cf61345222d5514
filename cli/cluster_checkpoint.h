// What cluster proof and verify check of a node's place in the cluster
// checkpoint log, and how they show its alarms.
#ifndef DX_CLI_CLUSTER_CHECKPOINT_H_
#define DX_CLI_CLUSTER_CHECKPOINT_H_

#include <string>

#include "absl/status/status.h"
#include "cli/flags.h"
#include "dx/v1/audit.pb.h"

namespace dx::cli {

// Checks a checkpoint proof: the leaf in the cluster tree, and the cluster
// tree head's signature (prefixed bytes) by a key whose chain --ca checks.
// `signer_note` says who signed it, and whether the chain was checked.
absl::Status CheckCheckpoint(const v1::CheckpointProof& proof,
                             const Flags& flags, std::string* signer_note);

// One "ALARM" line per alarm, to stdout.
void PrintAlarms(const v1::CheckpointProof& proof);

}  // namespace dx::cli

#endif  // DX_CLI_CLUSTER_CHECKPOINT_H_
