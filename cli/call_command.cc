// dxctl call: an agency's request, end to end.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "certs/crypto.h"
#include "certs/trust_store.h"
#include "cli/agency_client.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/output.h"
#include "cli/pki_layout.h"
#include "cli/refusal_output.h"
#include "cli/remote.h"
#include "common/files.h"
#include "common/records.h"
#include "common/status_macros.h"
#include "dx/v1/exchange.grpc.pb.h"

namespace dx::cli {
namespace {

constexpr char kHelp[] =
    R"(usage: dxctl call --gateway HOST:PORT --dataset ID --purpose CODE [flags]

--gateway takes one node, several (a:1,b:2,c:3: round robin over the healthy
ones), or dns:///NAME:PORT.

Identity (either --pki DIR with --agency CODE, or each file):
  --pki DIR             a dev PKI made by 'dxctl pki init' (sets the files below)
  --agency CODE         consumer agency code, e.g. 000.00.00.H30
  --ca FILE             trust anchors (root CA, PEM)
  --intermediates FILE  intermediate CA certificates (PEM)
  --peer-ca FILE        CA certificates (roots and intermediates, PEM) of peer
                        platforms whose gateways may sign an answer that
                        crossed platforms (docs/FEDERATION.md)
  --cert FILE --key FILE            the agency's TLS certificate chain and key
  --sign-cert FILE --sign-key FILE  the agency's signing certificate and key
Request:
  --system ID           the consumer system registered under the agency
  --legal-basis TEXT    legal basis relied on
  --field NAME          a field wanted (repeatable; default: all granted)
  --query KEY=VALUE     a query key the dataset documents (repeatable)
  --subject ID          data subject id;   --consent REF  consent reference
  --max-records N       at most N records
  --request-id ID       (default: random)  --nonce-hex HEX (default: random)
  --issued-offset-s N   shift issued_at by N seconds (tests of freshness)
  --lifetime-s N        expires_at - issued_at (default 120)
  --stream              use the streaming RPC
Sending:
  --timeout-ms N        call deadline (default 10000)
  --resend FILE         send a saved SignedRequest (request.pb) unchanged
  --tamper WHAT         corrupt 'envelope' or 'signature' after signing (tests)
  --envelope-agency C   claim agency C in the envelope (tests of identity checks)
Output:
  --save-dir DIR        write request/response bytes, signatures and public keys
                        there, for checking with the openssl CLI
  --json                print the response envelope as JSON
  --print-rows N        rows to print (default 20)
  --quiet               print only the summary lines
)";

struct Identity {
  std::string ca, intermediates, cert, key, sign_cert, sign_key;
};

absl::StatusOr<Identity> IdentityFromFlags(const Flags& f) {
  Identity id;
  const std::string pki = f.Get("pki");
  const std::string agency = f.Get("agency");
  if (!pki.empty()) {
    if (agency.empty()) {
      return absl::InvalidArgumentError("--pki needs --agency CODE");
    }
    const PkiLayout layout{pki};
    const std::string dir = layout.agency(agency);
    id = {layout.root_ca(), layout.intermediates(), dir + "/tls.pem",
          dir + "/tls.key", dir + "/sign.pem",      dir + "/sign.key"};
  }
  auto pick = [&](const char* flag, std::string* field) {
    if (f.Has(flag)) *field = f.Get(flag);
  };
  pick("ca", &id.ca);
  pick("intermediates", &id.intermediates);
  pick("cert", &id.cert);
  pick("key", &id.key);
  pick("sign-cert", &id.sign_cert);
  pick("sign-key", &id.sign_key);
  for (auto [name, value] : {std::pair{"ca", &id.ca},
                             {"cert", &id.cert},
                             {"key", &id.key},
                             {"sign-cert", &id.sign_cert},
                             {"sign-key", &id.sign_key}}) {
    if (value->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, " (or --pki with --agency) is required"));
    }
  }
  return id;
}

absl::Status SaveSigned(const std::string& dir, const std::string& prefix,
                        const std::string& envelope, const std::string& sig,
                        const std::string& cert_der) {
  DX_RETURN_IF_ERROR(
      WriteFileAtomically(dir + "/" + prefix + ".envelope.bin", envelope));
  DX_RETURN_IF_ERROR(WriteFileAtomically(dir + "/" + prefix + ".sig.der", sig));
  DX_ASSIGN_OR_RETURN(auto cert, certs::ParseCertificateDer(cert_der));
  DX_RETURN_IF_ERROR(WriteFileAtomically(dir + "/" + prefix + ".signer.pem",
                                         certs::CertificateToPem(cert.get())));
  return WriteFileAtomically(dir + "/" + prefix + ".pub.pem",
                             certs::PublicKeyPem(cert.get()));
}

// Display width in code points (good enough for Vietnamese text).
size_t Utf8Width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// At most `max` code points, never cutting a multi-byte character.
std::string Clip(const std::string& s, size_t max) {
  if (Utf8Width(s) <= max) return s;
  size_t points = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && ++points > max - 3)
      break;
  }
  return s.substr(0, i) + "...";
}

void PrintRecords(const v1::RecordBatch& batch, size_t max_rows) {
  const size_t rows = std::min<size_t>(batch.rows_size(), max_rows);
  std::vector<std::vector<std::string>> cells;
  cells.emplace_back(batch.columns().begin(), batch.columns().end());
  for (size_t r = 0; r < rows; ++r) {
    std::vector<std::string> line;
    const v1::Row& row = batch.rows(r);
    for (int c = 0; c < row.values_size(); ++c) {
      line.push_back(IsNull(row, c) ? "(null)" : Clip(row.values(c), 32));
    }
    cells.push_back(std::move(line));
  }
  std::vector<size_t> width(batch.columns_size(), 0);
  for (const auto& line : cells) {
    for (size_t c = 0; c < line.size() && c < width.size(); ++c) {
      width[c] = std::max(width[c], Utf8Width(line[c]));
    }
  }
  for (const auto& line : cells) {
    std::string out = " ";
    for (size_t c = 0; c < line.size() && c < width.size(); ++c) {
      out +=
          " " + line[c] + std::string(width[c] - Utf8Width(line[c]) + 1, ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    std::cout << out << "\n";
  }
  if (static_cast<size_t>(batch.rows_size()) > rows) {
    std::cout << "  ... " << batch.rows_size() - rows << " more\n";
  }
}

int ReportError(const grpc::Status& s) {
  std::cout << FormatRefusal(s, i18n::FromEnvironment());
  return 1;
}

// The signed answer's word that more records matched than it holds, and
// which limit cut it short (nothing when every match was returned).
void PrintTruncation(const v1::ResponseEnvelope& env) {
  const char* why = nullptr;
  switch (env.truncated()) {
    case v1::TRUNCATION_CALLER_MAX_RECORDS:
      why = "the request's max_records";
      break;
    case v1::TRUNCATION_GATEWAY_MAX_RECORDS:
      why = "the gateway's cap on records per call";
      break;
    case v1::TRUNCATION_DAILY_QUOTA:
      why = "what is left of the grant's daily records quota";
      break;
    default:
      return;
  }
  std::cout << "TRUNCATED  more records matched than this answer holds "
               "(limit: "
            << why << ")\n";
}

void PrintReceipt(const v1::ResponseEnvelope& env) {
  std::cout << "  gateway signature OK (node " << env.gateway_node_id()
            << ", policy " << env.policy_version() << ")\n"
            << "  audit record: #" << env.receipt().sequence_number()
            << " leaf " << HexEncode(env.receipt().record_hash()) << "\n";
}

}  // namespace

int RunCall(const std::vector<std::string>& args) {
  auto parsed = Flags::Parse(
      args, {"gateway",         "pki",         "agency",     "ca",
             "intermediates",   "cert",        "key",        "sign-cert",
             "sign-key",        "system",      "dataset",    "purpose",
             "legal-basis",     "field",       "query",      "subject",
             "consent",         "max-records", "request-id", "nonce-hex",
             "issued-offset-s", "lifetime-s",  "timeout-ms", "resend",
             "tamper",          "save-dir",    "print-rows", "envelope-agency",
             "peer-ca"},
      {"stream", "json", "quiet", "help"});
  if (!parsed.ok()) {
    std::cerr << "dxctl call: " << parsed.status().message() << "\n" << kHelp;
    return 2;
  }
  const Flags& f = *parsed;
  if (f.Has("help")) {
    std::cout << kHelp;
    return 0;
  }
  auto fail_usage = [](const absl::Status& s) {
    std::cerr << "dxctl call: " << s.message() << "\n";
    return kExitUsage;
  };
  // Every number flag, read before anything is sent.
  auto max_records = f.GetUint("max-records");
  auto offset = f.GetInt("issued-offset-s");
  auto lifetime = f.GetInt("lifetime-s", 120);
  auto timeout_ms = f.GetInt("timeout-ms", 10000);
  auto print_rows = f.GetInt("print-rows", 20);
  for (const absl::Status& s :
       {max_records.status(), offset.status(), lifetime.status(),
        timeout_ms.status(), print_rows.status()}) {
    if (!s.ok()) return fail_usage(s);
  }
  auto id = IdentityFromFlags(f);
  if (!id.ok()) return fail_usage(id.status());
  auto gateway = f.Require("gateway");
  if (!gateway.ok()) return fail_usage(gateway.status());

  v1::SignedRequest request;
  if (f.Has("resend")) {
    auto bytes = ReadFile(f.Get("resend"));
    if (!bytes.ok() || !request.ParseFromString(*bytes)) {
      return fail_usage(
          absl::InvalidArgumentError("--resend: cannot read a SignedRequest"));
    }
  } else {
    RequestParams p;
    p.consumer_agency = f.Get("envelope-agency", f.Get("agency"));
    p.consumer_system = f.Get("system");
    p.dataset_id = f.Get("dataset");
    p.purpose_code = f.Get("purpose");
    p.legal_basis = f.Get("legal-basis");
    p.fields = f.GetAll("field");
    for (const auto& q : f.GetAll("query")) {
      std::pair<std::string, std::string> kv =
          absl::StrSplit(q, absl::MaxSplits('=', 1));
      p.query[kv.first] = kv.second;
    }
    p.data_subject_id = f.Get("subject");
    p.consent_reference = f.Get("consent");
    p.request_id = f.Get("request-id");
    if (f.Has("nonce-hex"))
      p.nonce = absl::HexStringToBytes(f.Get("nonce-hex"));
    p.max_records = static_cast<uint32_t>(*max_records);
    if (f.Has("issued-offset-s")) {
      p.issued_at = absl::Now() + absl::Seconds(*offset);
    }
    p.lifetime = absl::Seconds(*lifetime);
    auto signer = certs::Signer::FromFiles(id->sign_key, id->sign_cert);
    if (!signer.ok()) return fail_usage(signer.status());
    auto signed_req = SignEnvelope(BuildEnvelope(p), **signer);
    if (!signed_req.ok()) return fail_usage(signed_req.status());
    request = *std::move(signed_req);
  }
  const std::string tamper = f.Get("tamper");
  if (tamper == "envelope" && !request.envelope().empty()) {
    (*request.mutable_envelope())[request.envelope().size() - 1] ^= 0x01;
  } else if (tamper == "signature" && !request.signature().empty()) {
    (*request.mutable_signature())[request.signature().size() / 2] ^= 0x01;
  }
  const std::string save_dir = f.Get("save-dir");
  if (!save_dir.empty()) {
    std::filesystem::create_directories(save_dir);
    absl::Status s =
        SaveSigned(save_dir, "request", request.envelope(), request.signature(),
                   request.signer_certificate());
    if (s.ok())
      s = WriteFileAtomically(save_dir + "/request.pb",
                              request.SerializeAsString());
    if (!s.ok()) return fail_usage(s);
  }

  certs::TrustStore::Options trust_options;
  trust_options.ca_file = id->ca;
  trust_options.intermediates_file = id->intermediates;
  trust_options.require_crl = false;
  auto trust = certs::TrustStore::Create(trust_options);
  if (!trust.ok()) return fail_usage(trust.status());
  std::optional<PeerCas> peer_cas;
  if (f.Has("peer-ca")) {
    auto loaded = LoadPeerCas(f.Get("peer-ca"));
    if (!loaded.ok()) return fail_usage(loaded.status());
    peer_cas = *std::move(loaded);
  }
  const PeerCas* peers = peer_cas ? &*peer_cas : nullptr;

  ChannelLimits limits;
  limits.max_receive_bytes = 256 << 20;
  limits.max_send_bytes = -1;  // gRPC's default: no limit of its own
  auto remote =
      RemoteNode::Connect({id->ca, id->cert, id->key}, *gateway, limits);
  if (!remote.ok()) return fail_usage(remote.status());
  auto stub = v1::Exchange::NewStub(remote->channel());
  auto ctx = RemoteNode::NewContext(absl::Milliseconds(*timeout_ms));
  const bool quiet = f.Has("quiet");

  v1::RequestEnvelope sent;
  sent.ParseFromString(request.envelope());
  std::cout << "request " << sent.request_id() << ": " << sent.consumer_agency()
            << "/" << sent.consumer_system() << " reads " << sent.dataset_id()
            << " for '" << sent.purpose_code() << "'\n";

  if (!f.Has("stream")) {
    v1::SignedResponse response;
    grpc::Status s = stub->Call(ctx.get(), request, &response);
    if (!s.ok()) return ReportError(s);
    auto env = VerifyResponse(response, request, trust->get(), peers);
    if (!env.ok()) {
      std::cout << "VERIFICATION FAILED  " << env.status().message() << "\n";
      return 3;
    }
    auto hops = VerifyHopReceipts(response, request, trust->get(), peers);
    if (!hops.ok()) {
      std::cout << "VERIFICATION FAILED  " << hops.status().message() << "\n";
      return 3;
    }
    if (!save_dir.empty()) {
      absl::Status st =
          SaveSigned(save_dir, "response", response.envelope(),
                     response.signature(), response.signer_certificate());
      if (!st.ok()) return fail_usage(st);
    }
    std::cout << "ALLOWED  " << env->records().rows_size()
              << " record(s), fields: "
              << absl::StrJoin(env->records().columns(), ", ") << "\n";
    PrintTruncation(*env);
    if (f.Has("json")) {
      std::string json;
      (void)google::protobuf::util::MessageToJsonString(*env, &json);
      std::cout << json << "\n";
    } else if (!quiet) {
      PrintRecords(env->records(), static_cast<size_t>(*print_rows));
    }
    PrintReceipt(*env);
    for (const v1::HopReceiptBody& hop : *hops) {
      std::cout << "  hop receipt OK: platform " << hop.platform_id()
                << " (node " << hop.node_id() << ") routed it to "
                << hop.routed_to_platform() << ", its audit record #"
                << hop.sequence_number() << " leaf "
                << HexEncode(hop.record_hash()) << "\n";
    }
    return 0;
  }

  auto reader = stub->Stream(ctx.get(), request);
  v1::StreamMessage msg;
  std::string digests;
  uint64_t batches = 0, records = 0;
  std::optional<v1::SignedResponse> final_message;
  v1::RecordBatch first;
  while (reader->Read(&msg)) {
    if (msg.has_final()) {
      final_message = msg.final();
      continue;
    }
    digests += certs::Sha256(msg.batch());
    v1::RecordBatch batch;
    batch.ParseFromString(msg.batch());
    records += batch.rows_size();
    if (batches++ == 0) first = std::move(batch);
  }
  grpc::Status s = reader->Finish();
  if (!s.ok()) return ReportError(s);
  if (!final_message) {
    std::cout << "VERIFICATION FAILED  the stream ended without a signed final "
                 "message\n";
    return 3;
  }
  auto env = VerifyResponse(*final_message, request, trust->get(), peers);
  if (!env.ok()) {
    std::cout << "VERIFICATION FAILED  " << env.status().message() << "\n";
    return 3;
  }
  if (env->batches_digest() != certs::Sha256(digests) ||
      env->batch_count() != batches || env->record_count() != records) {
    std::cout << "VERIFICATION FAILED  the batches received differ from what "
                 "the gateway signed\n";
    return 3;
  }
  std::cout << "ALLOWED  " << records << " record(s) in " << batches
            << " batch(es), digest verified\n";
  PrintTruncation(*env);
  if (!quiet && batches > 0)
    PrintRecords(first, static_cast<size_t>(*print_rows));
  PrintReceipt(*env);
  return 0;
}

}  // namespace dx::cli
