// One subscription event as a CloudEvents 1.0 event in structured JSON
// form (one line), for `dxctl subscribe --format cloudevents`: consumers
// that feed a message bus take these as they are. Called only after the
// batch's signature and chain were checked. Pure function, thread-safe.
#ifndef DX_CLI_CLOUDEVENTS_H_
#define DX_CLI_CLOUDEVENTS_H_

#include <string>

#include "dx/v1/subscription.pb.h"

namespace dx::cli {

// specversion 1.0; id "<subscription id>-<sequence>" (unique per source,
// the same when the event is delivered again: a bus can drop duplicates);
// source "urn:dx:gateway:<node>"; type "vn.dx.change.<kind>"; time the
// provider's commit; subject the record key; datacontenttype
// application/json; data the values by column (null for a null, {} for a
// delete); extensions dxdataset, dxsequence, dxpolicyversion.
std::string CloudEventJson(const v1::EventBatch& batch,
                           const v1::ChangeEvent& event);

}  // namespace dx::cli

#endif  // DX_CLI_CLOUDEVENTS_H_
