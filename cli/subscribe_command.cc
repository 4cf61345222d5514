// dxctl subscribe: an agency's subscription to a dataset's changes. Prints
// each event, checks each batch (the gateway's signature, the chain), acks
// what it printed and keeps a cursor file, so that a later run resumes
// after the last ack (docs/SUBSCRIPTIONS.md).
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <iostream>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "certs/crypto.h"
#include "certs/trust_store.h"
#include "cli/agency_client.h"
#include "cli/cloudevents.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/output.h"
#include "cli/pki_layout.h"
#include "cli/remote.h"
#include "common/bytes.h"
#include "common/files.h"
#include "common/records.h"
#include "dx/v1/subscription.grpc.pb.h"

namespace dx::cli {
namespace {

constexpr char kHelp[] =
    R"(usage: dxctl subscribe --gateway HOST:PORT --pki DIR --agency CODE
                      --system ID --dataset ID --purpose CODE [flags]

Subscribes to the dataset's changes and prints each event as it comes:
  #SEQ KIND KEY  field=value ...
Each batch's signature (a gateway's, chaining to --pki's root) and its link
to the batch before are checked; a batch that fails stops the run (exit 3).
After printing a batch it is acknowledged and the cursor file updated, so a
later run with the same --cursor resumes after it.

  --system ID           the consumer system registered under the agency
  --legal-basis TEXT    legal basis relied on
  --field NAME          a field wanted (repeatable; default: all granted)
  --cursor FILE         resume from FILE when it exists; keep it current
  --from now|beginning|snapshot
                        where a new subscription starts (default now);
                        snapshot: every record first (kind snapshot), then
                        the changes since; a status line
                        "SNAPSHOT COMPLETE" follows the last of them
  --max-events N        stop after N events (default: run until interrupted)
  --max-idle N          stop after N heartbeats in a row without an event
  --no-ack              print without acknowledging (the events come again)
  --unsubscribe         end the --cursor's subscription for good (its state
                        is deleted at the gateway), then remove the cursor
  --format text|cloudevents
                        text (default), or one CloudEvents 1.0 JSON object
                        a line (structured mode: id = subscription id and
                        sequence, type vn.dx.change.<kind>, subject = key,
                        time = commit, data = the values); then the status
                        lines (SUBSCRIBED, ENDED, ...) go to stderr

A stream the gateway ends because the policy or a certificate no longer
allows it ends with a signed message: it is checked, printed as
  ENDED BY GATEWAY  REASON rule RULE (LEGAL BASIS): MESSAGE
and the run exits 1; or 4 when the reason is REASON_SUBSCRIPTION_RESYNC
(the provider no longer keeps the changes after the cursor): retrying
fails the same way; subscribe anew (--from beginning, a new cursor).
)";

// The cursor file: what was acknowledged, and an ack under way (sent, its
// answer not yet known), so that a run that stopped between the two can
// resume from either.
struct Cursor {
  std::string subscription_id;
  uint64_t acked = 0;
  std::string head;  // SHA-256 of the acknowledged batch
  uint64_t pending = 0;
  std::string pending_head;
};

absl::StatusOr<Cursor> ReadCursor(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  Cursor c;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(line, absl::MaxSplits('=', 1));
    if (kv.first == "subscription_id") c.subscription_id = kv.second;
    if (kv.first == "acked") (void)absl::SimpleAtoi(kv.second, &c.acked);
    if (kv.first == "head") c.head = absl::HexStringToBytes(kv.second);
    if (kv.first == "pending") (void)absl::SimpleAtoi(kv.second, &c.pending);
    if (kv.first == "pending_head") {
      c.pending_head = absl::HexStringToBytes(kv.second);
    }
  }
  if (c.subscription_id.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a dxctl subscribe cursor"));
  }
  return c;
}

absl::Status WriteCursor(const std::string& path, const Cursor& c) {
  return WriteFileAtomically(
      path,
      absl::StrCat("subscription_id=", c.subscription_id, "\nacked=", c.acked,
                   "\nhead=", HexEncode(c.head), "\npending=", c.pending,
                   "\npending_head=", HexEncode(c.pending_head), "\n"));
}

const char* KindName(v1::ChangeKind k) {
  switch (k) {
    case v1::CHANGE_KIND_INSERT:
      return "insert";
    case v1::CHANGE_KIND_UPDATE:
      return "update";
    case v1::CHANGE_KIND_DELETE:
      return "delete";
    case v1::CHANGE_KIND_CORRECTION:
      return "correction";
    case v1::CHANGE_KIND_LEFT_VIEW:
      return "left_view";
    case v1::CHANGE_KIND_SNAPSHOT:
      return "snapshot";
    default:
      return "?";
  }
}

class Session {
 public:
  Session(const Flags& f, const certs::Signer& signer,
          v1::Subscriptions::Stub* stub)
      : f_(f), signer_(signer), stub_(stub) {}

  // The signed envelope: a RequestEnvelope's bytes, then the terms'.
  absl::StatusOr<v1::SignedRequest> Sign(const std::string& terms) const {
    RequestParams p;
    p.consumer_agency = f_.Get("agency");
    p.consumer_system = f_.Get("system");
    p.dataset_id = f_.Get("dataset");
    p.purpose_code = f_.Get("purpose");
    p.legal_basis = f_.Get("legal-basis");
    p.fields = f_.GetAll("field");
    v1::SignedRequest req;
    req.set_envelope(BuildEnvelope(p).SerializeAsString() + terms);
    auto sig = signer_.Sign(req.envelope());
    if (!sig.ok()) return sig.status();
    req.set_signature(*sig);
    req.set_signer_certificate(signer_.certificate_der());
    return req;
  }

  grpc::Status Ack(const std::string& id, uint64_t sequence) const {
    v1::AckTerms t;
    t.set_subscription_id(id);
    t.set_sequence(sequence);
    auto req = Sign(t.SerializeAsString());
    if (!req.ok()) {
      return grpc::Status(grpc::StatusCode::INTERNAL,
                          std::string(req.status().message()));
    }
    v1::AckResponse resp;
    auto ctx = RemoteNode::NewContext(absl::Seconds(30));
    return stub_->Ack(ctx.get(), *req, &resp);
  }

 private:
  const Flags& f_;
  const certs::Signer& signer_;
  v1::Subscriptions::Stub* const stub_;
};

int Refused(const grpc::Status& s, std::ostream& out) {
  out << "REFUSED  " << GrpcCodeName(s.error_code()) << ": "
      << s.error_message() << "\n";
  if (auto d = ErrorDetailOf(s)) {
    out << "  reason: " << v1::ReasonCode_Name(d->reason()) << "\n";
  }
  return 1;
}

}  // namespace

int RunSubscribe(const std::vector<std::string>& args) {
  auto parsed = Flags::Parse(args,
                             {"gateway", "pki", "agency", "system", "dataset",
                              "purpose", "legal-basis", "field", "cursor",
                              "from", "max-events", "max-idle", "format"},
                             {"no-ack", "unsubscribe", "help"});
  if (!parsed.ok()) {
    std::cerr << "dxctl subscribe: " << parsed.status().message() << "\n"
              << kHelp;
    return kExitUsage;
  }
  const Flags& f = *parsed;
  if (f.Has("help")) {
    std::cout << kHelp;
    return 0;
  }
  auto usage = [](const absl::Status& s) {
    std::cerr << "dxctl subscribe: " << s.message() << "\n";
    return kExitUsage;
  };
  auto max_events = f.GetUint("max-events");
  auto max_idle = f.GetUint("max-idle");
  if (!max_events.ok()) return usage(max_events.status());
  if (!max_idle.ok()) return usage(max_idle.status());
  for (const char* flag :
       {"gateway", "pki", "agency", "system", "dataset", "purpose"}) {
    if (auto s = f.Require(flag); !s.ok()) return usage(s.status());
  }
  const std::string from = f.Get("from", "now");
  if (from != "now" && from != "beginning" && from != "snapshot") {
    return usage(
        absl::InvalidArgumentError("--from is now, beginning or snapshot"));
  }
  const std::string format = f.Get("format", "text");
  if (format != "text" && format != "cloudevents") {
    return usage(absl::InvalidArgumentError("--format is text or cloudevents"));
  }
  const bool cloudevents = format == "cloudevents";
  // Events go to stdout; with CloudEvents, stdout holds nothing else.
  std::ostream& status = cloudevents ? std::cerr : std::cout;
  const PkiLayout pki{f.Get("pki")};
  const std::string dir = pki.agency(f.Get("agency"));
  auto signer = certs::Signer::FromFiles(dir + "/sign.key", dir + "/sign.pem");
  if (!signer.ok()) return usage(signer.status());
  certs::TrustStore::Options to;
  to.ca_file = pki.root_ca();
  to.intermediates_file = pki.intermediates();
  to.require_crl = false;
  auto trust = certs::TrustStore::Create(to);
  if (!trust.ok()) return usage(trust.status());
  auto remote = RemoteNode::Connect(
      {pki.root_ca(), dir + "/tls.pem", dir + "/tls.key"}, f.Get("gateway"));
  if (!remote.ok()) return usage(remote.status());
  auto stub = v1::Subscriptions::NewStub(remote->channel());
  Session session(f, **signer, stub.get());

  const std::string cursor_path = f.Get("cursor");
  Cursor cursor;
  bool resume = false;
  if (!cursor_path.empty() && std::filesystem::exists(cursor_path)) {
    auto c = ReadCursor(cursor_path);
    if (!c.ok()) return usage(c.status());
    cursor = *c;
    resume = true;
  }
  if (f.Has("unsubscribe")) {
    if (!resume) {
      return usage(absl::InvalidArgumentError(
          "--unsubscribe needs --cursor FILE of an existing subscription"));
    }
    v1::SubscriptionTerms terms;
    terms.set_subscription_id(cursor.subscription_id);
    terms.set_unsubscribe(true);
    auto req = session.Sign(terms.SerializeAsString());
    if (!req.ok()) return usage(req.status());
    auto uctx = RemoteNode::NewContext(absl::Seconds(60));
    auto ureader = stub->Subscribe(uctx.get(), *req);
    v1::SubscriptionMessage m;
    const bool got = ureader->Read(&m) && m.has_unsubscribed();
    grpc::Status s = ureader->Finish();
    if (!s.ok()) return Refused(s, status);
    if (!got) {
      status << "FAILED  the gateway did not confirm the unsubscribe\n";
      return 1;
    }
    std::error_code ignored;
    std::filesystem::remove(cursor_path, ignored);
    status << "UNSUBSCRIBED  " << cursor.subscription_id << " (acked #"
           << m.unsubscribed().acked_sequence() << ")\n";
    return 0;
  }

  // Opens the stream; a resume whose ack was under way when the last run
  // stopped is tried from the pending ack if the gateway holds that one.
  std::unique_ptr<grpc::ClientContext> ctx;
  std::unique_ptr<grpc::ClientReader<v1::SubscriptionMessage>> reader;
  v1::SubscriptionMessage msg;
  for (int attempt = 0; attempt < 2; ++attempt) {
    v1::SubscriptionTerms terms;
    if (resume) {
      terms.set_start(v1::START_FROM_CURSOR);
      terms.set_subscription_id(cursor.subscription_id);
      terms.set_acked_sequence(cursor.acked);
    } else {
      terms.set_start(from == "now"        ? v1::START_FROM_NOW
                      : from == "snapshot" ? v1::START_FROM_SNAPSHOT
                                           : v1::START_FROM_BEGINNING);
    }
    auto req = session.Sign(terms.SerializeAsString());
    if (!req.ok()) return usage(req.status());
    reader.reset();  // before the context it used
    ctx = std::make_unique<grpc::ClientContext>();  // one per call
    reader = stub->Subscribe(ctx.get(), *req);
    if (reader->Read(&msg) && msg.has_opened()) break;
    grpc::Status s = reader->Finish();
    auto d = ErrorDetailOf(s);
    if (attempt == 0 && resume && cursor.pending > cursor.acked && d &&
        d->reason() == v1::REASON_CURSOR_MISMATCH) {
      cursor.acked = cursor.pending;  // the gateway took the last ack
      cursor.head = cursor.pending_head;
      continue;
    }
    return Refused(s, status);
  }
  const v1::SubscriptionOpened opened = msg.opened();
  if (resume && opened.chain_head_sha256() != cursor.head) {
    status << "CHAIN BROKEN  the gateway resumes from another batch than "
              "the cursor's\n";
    return kExitNotVerified;
  }
  cursor.subscription_id = opened.subscription_id();
  cursor.acked = opened.resumes_after_sequence();
  cursor.head = opened.chain_head_sha256();
  status << "SUBSCRIBED  " << cursor.subscription_id << " after #"
         << cursor.acked << std::endl;  // a reader waits on this line
  uint64_t events = 0, idle = 0;
  while (reader->Read(&msg)) {
    if (msg.has_heartbeat()) {
      if (*max_idle != 0 && ++idle >= *max_idle) break;
      continue;
    }
    auto gateway_signed = [&](const std::string& envelope,
                              const std::string& signature,
                              const std::string& cert) {
      certs::CertVerdict v = (*trust)->VerifyDer(cert);
      return v.ok() &&
             v.cert->principal.kind == certs::PrincipalKind::kGateway &&
             v.cert->verifier->Verify(envelope, signature);
    };
    if (msg.has_ended()) {
      const v1::SignedSubscriptionEnded& se = msg.ended();
      v1::SubscriptionEnded e;
      if (!gateway_signed(se.envelope(), se.signature(),
                          se.signer_certificate()) ||
          !e.ParseFromString(se.envelope())) {
        status << "SIGNATURE FAILED  the final message is not signed by a "
                  "gateway of this PKI\n";
        return kExitNotVerified;
      }
      if (e.previous_batch_sha256() != cursor.head) {
        status << "CHAIN BROKEN  the final message does not follow #"
               << cursor.acked << "\n";
        return kExitNotVerified;
      }
      status << "ENDED BY GATEWAY  " << v1::ReasonCode_Name(e.reason())
             << " rule " << (e.rule_id().empty() ? "-" : e.rule_id()) << " ("
             << e.legal_basis() << "): " << e.message() << " after #"
             << e.last_sequence() << "\n";
      (void)reader->Finish();
      if (e.reason() == v1::REASON_SUBSCRIPTION_RESYNC) {
        status << "RESYNCHRONISE  the cursor's subscription cannot go on "
                  "without a gap; subscribe anew with --from beginning and "
                  "rebuild your copy\n";
        return kExitResynchronise;
      }
      return kExitFailed;
    }
    if (!msg.has_batch()) continue;
    idle = 0;
    const v1::SignedEventBatch& sb = msg.batch();
    v1::EventBatch b;
    if (!gateway_signed(sb.envelope(), sb.signature(),
                        sb.signer_certificate()) ||
        !b.ParseFromString(sb.envelope())) {
      status << "SIGNATURE FAILED  a batch is not signed by a gateway of "
                "this PKI\n";
      return kExitNotVerified;
    }
    if (b.previous_batch_sha256() != cursor.head ||
        b.first_sequence() != cursor.acked + 1) {
      status << "CHAIN BROKEN  batch #" << b.first_sequence()
             << " does not follow #" << cursor.acked << "\n";
      return kExitNotVerified;
    }
    for (const v1::ChangeEvent& e : b.events()) {
      if (cloudevents) {
        std::cout << CloudEventJson(b, e) << "\n";
        continue;
      }
      std::string line = absl::StrCat("#", e.sequence(), " ",
                                      KindName(e.kind()), " ", e.key(), " ");
      for (int i = 0; i < e.values().values_size() && i < b.columns_size();
           ++i) {
        absl::StrAppend(
            &line, " ", b.columns(i), "=",
            IsNull(e.values(), i) ? "(null)" : e.values().values(i));
      }
      std::cout << line << "\n";
    }
    std::cout.flush();
    if (b.snapshot_complete()) {
      status << "SNAPSHOT COMPLETE  through #" << b.last_sequence()
             << std::endl;
    }
    const std::string hash = certs::Sha256(sb.envelope());
    if (!f.Has("no-ack")) {
      cursor.pending = b.last_sequence();
      cursor.pending_head = hash;
      if (!cursor_path.empty()) {
        if (auto s = WriteCursor(cursor_path, cursor); !s.ok()) return usage(s);
      }
      grpc::Status s = session.Ack(cursor.subscription_id, b.last_sequence());
      if (!s.ok()) return Refused(s, status);
    }
    cursor.acked = b.last_sequence();
    cursor.head = hash;
    cursor.pending = 0;
    cursor.pending_head.clear();
    if (!cursor_path.empty() && !f.Has("no-ack")) {
      if (auto s = WriteCursor(cursor_path, cursor); !s.ok()) return usage(s);
    }
    events += b.events_size();
    if (*max_events != 0 && events >= *max_events) break;
  }
  ctx->TryCancel();
  grpc::Status end = reader->Finish();
  if (!end.ok() && end.error_code() != grpc::StatusCode::CANCELLED) {
    if (cloudevents) std::cout.flush();
    return Refused(end, status);
  }
  status << "ENDED  " << events << " events, last #" << cursor.acked << "\n";
  return 0;
}

}  // namespace dx::cli
