// Signed notes, checkpoints, cosignatures and the witness's add-checkpoint
// core, with hostile inputs; and an independent checker (a Python script
// written from the specs, verifying with the openssl CLI) run on what the
// C++ code signs.
#include "witness/witness.h"

#include <openssl/evp.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "audit/merkle.h"
#include "audit/tree_head.h"
#include "certs/crypto.h"
#include "certs/testing/dev_pki.h"
#include "common/files.h"
#include "common/testing/temp_dir.h"
#include "gtest/gtest.h"
#include "witness/checkpoint.h"
#include "witness/cosignature.h"
#include "witness/keys.h"
#include "witness/note.h"

namespace dx::witness {
namespace {

constexpr char kOrigin[] = "gw1.dxgate.example/audit";
constexpr char kWitnessName[] = "hub.dxgate.example/witness";

class FixedClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::FromUnixSeconds(1796601600); }
};

// A Merkle tree of numbered leaves, for roots and consistency proofs.
class Tree {
 public:
  explicit Tree(uint64_t n, const std::string& salt = "") {
    for (uint64_t i = 0; i < n; ++i) Append(absl::StrCat(salt, "leaf ", i));
  }
  void Append(const std::string& leaf) {
    range_.Append(audit::HashLeaf(leaf),
                  [this](int level, uint64_t index, const std::string& hash) {
                    nodes_[{level, index}] = hash;
                  });
  }
  std::string Root() const { return range_.Root(); }
  uint64_t size() const { return range_.size(); }
  std::vector<std::string> Proof(uint64_t first) const {
    auto source = [this](int level,
                         uint64_t index) -> absl::StatusOr<std::string> {
      return nodes_.at({level, index});
    };
    return *audit::ConsistencyProof(source, first, range_.size());
  }

 private:
  audit::CompactRange range_;
  std::map<std::pair<int, uint64_t>, std::string> nodes_;
};

class WitnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string gw = testing::DevPkiDir() + "/gateway/";
    log_signer_ = *certs::Signer::FromFiles(gw + "sign.key", gw + "sign.pem");
    note_signer_ = *EcdsaNoteSigner::Create(kOrigin, log_signer_.get());
    // Another key of the dev PKI: a signer the witness does not trust.
    const std::string other = testing::DevPkiDir() + "/agencies/000.00.00.H30/";
    other_signer_ =
        *certs::Signer::FromFiles(other + "sign.key", other + "sign.pem");
    other_note_signer_ = *EcdsaNoteSigner::Create(kOrigin, other_signer_.get());
    log_cert_ = *certs::ParseCertificateDer(log_signer_->certificate_der());
    auto pub = certs::PublicKeyOfDer(log_signer_->certificate_der());
    log_verifier_ = *EcdsaNoteVerifier::Create(kOrigin, pub->get());
  }

  std::string SignedCheckpoint(const Tree& tree,
                               const EcdsaNoteSigner* signer = nullptr,
                               const std::string& origin = kOrigin) {
    Checkpoint cp{origin, tree.size(), tree.Root(), {}};
    return *SignCheckpoint(cp, signer ? *signer : *note_signer_);
  }

  std::unique_ptr<Witness> MakeWitness() {
    auto key = *Ed25519Key::Generate();
    witness_public_key_ = key->public_key();
    std::vector<Witness::Log> logs(1);
    logs[0].origin = kOrigin;
    auto pub = certs::PublicKeyOfDer(log_signer_->certificate_der());
    logs[0].keys.push_back(*EcdsaNoteVerifier::Create(kOrigin, pub->get()));
    return std::make_unique<Witness>(
        *Cosigner::Create(kWitnessName, std::move(key)), std::move(logs),
        &clock_);
  }

  static std::string Request(uint64_t old_size, std::vector<std::string> proof,
                             const std::string& checkpoint) {
    return FormatAddCheckpointRequest({old_size, std::move(proof), checkpoint});
  }

  FixedClock clock_;
  std::unique_ptr<certs::Signer> log_signer_, other_signer_;
  std::unique_ptr<EcdsaNoteSigner> note_signer_, other_note_signer_;
  certs::X509Ptr log_cert_;
  std::unique_ptr<EcdsaNoteVerifier> log_verifier_;
  std::string witness_public_key_;
};

// --- Signed notes ----------------------------------------------------------

TEST(NoteTest, FormatsAndParsesBack) {
  Note note{"hello\n\nworld\n",
            {{"a.example/k", 0x01020304, "sig1"},
             {"b.example/k", 0xA0B0C0D0, "sig2"}}};
  const std::string text = FormatNote(note);
  EXPECT_EQ(text,
            "hello\n\nworld\n\n\xE2\x80\x94 a.example/k AQIDBHNpZzE=\n"
            "\xE2\x80\x94 b.example/k oLDA0HNpZzI=\n");
  auto parsed = ParseNote(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->text, note.text);  // the text keeps its own blank line
  ASSERT_EQ(parsed->signatures.size(), 2u);
  EXPECT_EQ(parsed->signatures[1].key_id, 0xA0B0C0D0u);
  EXPECT_EQ(parsed->signatures[1].signature, "sig2");
}

TEST(NoteTest, RejectsBadBase64) {
  for (const char* b64 : {"AQIDBHNpZzE", "AQIDB!NpZzE=", "AQID BHNpZzE=",
                          "AQIDBHNpZzF=", "", "AQID"}) {
    const std::string note =
        absl::StrCat("text\n\n\xE2\x80\x94 a.example/k ", b64, "\n");
    EXPECT_FALSE(ParseNote(note).ok()) << b64;
  }
}

TEST(NoteTest, RejectsControlCharactersAndBadUtf8) {
  const std::string sig = "\xE2\x80\x94 a.example/k AQIDBHNpZzE=\n";
  EXPECT_TRUE(ParseNote("text\n\n" + sig).ok());
  for (const std::string& text : std::vector<std::string>{
           "te\txt\n", "te\rxt\n", std::string("te\0xt\n", 6), "te\x1bxt\n",
           "te\xC3\x28xt\n", "te\xED\xA0\x80xt\n"}) {
    auto parsed = ParseNote(text + "\n" + sig);
    EXPECT_FALSE(parsed.ok()) << absl::CEscape(text);
  }
}

TEST(NoteTest, RejectsMalformedStructure) {
  const std::string sig = "\xE2\x80\x94 a.example/k AQIDBHNpZzE=";
  EXPECT_FALSE(ParseNote("text\n" + sig + "\n").ok());  // no blank line
  EXPECT_FALSE(ParseNote("text\n\n" + sig).ok());       // no final \n
  EXPECT_FALSE(ParseNote("text\n\n").ok());             // no signature
  EXPECT_FALSE(ParseNote("\n\n" + sig + "\n").ok());    // empty text
  EXPECT_FALSE(ParseNote("text\n\n- a.example/k AQIDBHNpZzE=\n").ok());
  EXPECT_FALSE(ParseNote("text\n\n\xE2\x80\x94 a+b AQIDBHNpZzE=\n").ok());
  EXPECT_FALSE(  // a Unicode space (U+00A0) inside the key name
      ParseNote("text\n\n\xE2\x80\x94 a\xC2\xA0"
                "b AQIDBHNpZzE=\n")
          .ok());
  EXPECT_FALSE(ParseNote("text\n\n\xE2\x80\x94  AQIDBHNpZzE=\n").ok());
  EXPECT_FALSE(ParseNote("text\n\n\xE2\x80\x94 a AQID\n").ok());  // < 5 bytes
  EXPECT_FALSE(ParseNote(std::string(kMaxNoteBytes + 1, 'a')).ok());
}

TEST(NoteTest, BoundsTheNumberOfSignatures) {
  Note note{"text\n", {}};
  for (size_t i = 0; i < kMaxNoteSignatures; ++i) {
    note.signatures.push_back({absl::StrCat("k", i), 1, "sig"});
  }
  EXPECT_TRUE(ParseNote(FormatNote(note)).ok());  // at least 16 accepted
  note.signatures.push_back({"one.more", 1, "sig"});
  auto parsed = ParseNote(FormatNote(note));
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("more than"), std::string::npos);
}

TEST(NoteTest, VerifierKeyRoundTripsAndChecksItsId) {
  VerifierKey key{"w.example/x", 0xDEADBEEF, 0x04, std::string(32, 'k')};
  const std::string s = FormatVerifierKey(key);
  EXPECT_EQ(s.substr(0, 21), "w.example/x+deadbeef+");
  auto parsed = ParseVerifierKey(s);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->key_material, key.key_material);
  EXPECT_EQ(parsed->type, 0x04);
  EXPECT_FALSE(ParseVerifierKey("w.example/x+DEADBEEF+BGtr").ok());
  EXPECT_FALSE(ParseVerifierKey("w.example/x+deadbeef").ok());
  // A cosigner vkey whose ID does not bind its name and key is refused.
  EXPECT_FALSE(CosignatureVerifier::FromVerifierKey(s).ok());
  key.key_id = NameBoundKeyId(key.name, 0x04, key.key_material);
  EXPECT_TRUE(
      CosignatureVerifier::FromVerifierKey(FormatVerifierKey(key)).ok());
  // Base64 may hold '+', the separator: the key is all after the second.
  key.key_material = "\x0f\xbf" + std::string(30, 'k');
  key.key_id = NameBoundKeyId(key.name, 0x04, key.key_material);
  const std::string with_plus = FormatVerifierKey(key);
  ASSERT_NE(with_plus.find("BA+/"), std::string::npos) << with_plus;
  auto verifier = CosignatureVerifier::FromVerifierKey(with_plus);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_EQ(verifier->get()->key_id(), key.key_id);
}

// --- Checkpoints -----------------------------------------------------------

TEST_F(WitnessTest, CheckpointFromTreeHeadIsSignedByTheLogKey) {
  Tree tree(5);
  auto sth = audit::SignTreeHead(*log_signer_, "gw1", tree.size(),
                                 1796601600000, tree.Root());
  ASSERT_TRUE(sth.ok());
  auto cp = CheckpointFromTreeHead(*sth, kOrigin);
  ASSERT_TRUE(cp.ok()) << cp.status();
  auto signed_note = SignCheckpoint(*cp, *note_signer_);
  ASSERT_TRUE(signed_note.ok()) << signed_note.status();
  EXPECT_EQ(
      signed_note->substr(0, signed_note->find("\n\n") + 1),
      absl::StrCat(kOrigin, "\n5\n", absl::Base64Escape(tree.Root()), "\n"));
  auto note = ParseNote(*signed_note);
  ASSERT_TRUE(note.ok()) << note.status();
  EXPECT_TRUE(VerifyNote(*note, {log_verifier_.get()}).ok());
  // The key ID is SHA-256 of the SPKI, whatever the name.
  auto pub = certs::PublicKeyOfDer(log_signer_->certificate_der());
  EXPECT_EQ(note->signatures[0].key_id, EcdsaKeyId(*PublicKeySpki(pub->get())));
  // The vkey form carries the same key.
  auto from_vkey =
      EcdsaNoteVerifier::FromVerifierKey(log_verifier_->VerifierKeyString());
  ASSERT_TRUE(from_vkey.ok()) << from_vkey.status();
  EXPECT_TRUE(VerifyNote(*note, {from_vkey->get()}).ok());
}

TEST_F(WitnessTest, SignatureFromAnotherKeyIsIgnoredOrRejected) {
  Tree tree(3);
  // Same name, another key (so another ID): ignored, and nothing is left.
  auto note = ParseNote(SignedCheckpoint(tree, other_note_signer_.get()));
  ASSERT_TRUE(note.ok());
  auto verified = VerifyNote(*note, {log_verifier_.get()});
  EXPECT_EQ(verified.status().code(), absl::StatusCode::kPermissionDenied);
  // Beside a good signature, an unknown key's line is ignored.
  auto good = ParseNote(SignedCheckpoint(tree));
  good->signatures.push_back(note->signatures[0]);
  verified = VerifyNote(*good, {log_verifier_.get()});
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->size(), 1u);
  // The known key's name and ID on another key's signature: rejected.
  good->signatures[1].key_id = good->signatures[0].key_id;
  EXPECT_EQ(VerifyNote(*good, {log_verifier_.get()}).status().code(),
            absl::StatusCode::kPermissionDenied);
  // Altered text: rejected.
  auto altered = ParseNote(SignedCheckpoint(tree));
  altered->text = absl::StrReplaceAll(altered->text, {{"\n3\n", "\n4\n"}});
  EXPECT_FALSE(VerifyNote(*altered, {log_verifier_.get()}).ok());
}

TEST(CheckpointTest, ParsesStrictly) {
  const std::string root = absl::Base64Escape(std::string(32, 'r'));
  auto cp = ParseCheckpoint("o.example/log\n10\n" + root + "\next one\n");
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_EQ(cp->size, 10u);
  EXPECT_EQ(cp->extensions, std::vector<std::string>{"ext one"});
  EXPECT_EQ(FormatCheckpoint(*cp),
            "o.example/log\n10\n" + root + "\next one\n");
  EXPECT_TRUE(ParseCheckpoint("o\n0\n" + root + "\n").ok());
  for (const std::string& bad : std::vector<std::string>{
           "o\n010\n" + root + "\n", "o\n-1\n" + root + "\n",
           "o\n+1\n" + root + "\n", "o\n1 \n" + root + "\n",
           "o\n18446744073709551616\n" + root + "\n", "\n1\n" + root + "\n",
           "o\n1\n" + absl::Base64Escape("short") + "\n", "o\n1\n",
           "o\n1\n" + root + "\n\n", "o\n1\n" + root}) {
    EXPECT_FALSE(ParseCheckpoint(bad).ok()) << absl::CEscape(bad);
  }
}

// --- Cosignatures ----------------------------------------------------------

TEST(CosignatureTest, SignsTheTimestampedMessage) {
  const std::string text =
      "o.example/log\n1\n" + absl::Base64Escape(std::string(32, 'r')) + "\n";
  EXPECT_EQ(CosignedMessage(text, 1679315147),
            "cosignature/v1\ntime 1679315147\n" + text);
  auto cosigner = *Cosigner::Create(kWitnessName, *Ed25519Key::Generate());
  EXPECT_EQ(cosigner->key_id(),
            NameBoundKeyId(kWitnessName, 0x04, cosigner->public_key()));
  auto sig = cosigner->Cosign(text, 1679315147);
  ASSERT_TRUE(sig.ok()) << sig.status();
  ASSERT_EQ(sig->signature.size(), 72u);
  EXPECT_EQ(*CosignatureVerifier::Timestamp(sig->signature), 1679315147u);
  auto verifier =
      *CosignatureVerifier::FromVerifierKey(cosigner->VerifierKeyString());
  EXPECT_TRUE(verifier->Verify(text, sig->signature));
  // Another time in the first 8 bytes, another text, a cut signature.
  std::string other_time = sig->signature;
  other_time[7] ^= 1;
  EXPECT_FALSE(verifier->Verify(text, other_time));
  EXPECT_FALSE(verifier->Verify(text + "x\n", sig->signature));
  EXPECT_FALSE(verifier->Verify(text, sig->signature.substr(0, 71)));
  // A time past 2^63 - 1 is neither made nor accepted.
  EXPECT_FALSE(cosigner->Cosign(text, uint64_t{1} << 63).ok());
  std::string huge = sig->signature;
  huge[0] = '\x80';
  EXPECT_FALSE(CosignatureVerifier::Timestamp(huge).ok());
}

// --- The witness -----------------------------------------------------------

TEST_F(WitnessTest, CosignsAGrowingLogAndTheCheckerAgrees) {
  auto witness = MakeWitness();
  Tree tree(7);
  auto first = witness->AddCheckpoint(Request(0, {}, SignedCheckpoint(tree)));
  ASSERT_EQ(first.http_status, 200) << first.reason;
  for (int i = 0; i < 6; ++i) tree.Append(absl::StrCat("more ", i));
  const std::string cp = SignedCheckpoint(tree);
  auto second = witness->AddCheckpoint(Request(7, tree.Proof(7), cp));
  ASSERT_EQ(second.http_status, 200) << second.reason;
  EXPECT_EQ(witness->Latest(kOrigin)->size, 13u);

  // The response's lines, appended to the checkpoint, verify as a note.
  const std::string cosigned = cp + second.body;
  auto note = ParseNote(cosigned);
  ASSERT_TRUE(note.ok()) << note.status();
  auto cosig_verifier = *CosignatureVerifier::FromVerifierKey(
      witness->cosigner().VerifierKeyString());
  auto verified =
      VerifyNote(*note, {log_verifier_.get(), cosig_verifier.get()});
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->size(), 2u);
  EXPECT_EQ(*CosignatureVerifier::Timestamp(verified->at(1).signature),
            1796601600u);

  // The independent checker: Python from the specs, openssl verifies.
  const std::string dir = testing::MakeTempDir("witness");
  ASSERT_TRUE(WriteFileAtomically(dir + "/good.note", cosigned).ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/log.pem",
                                  certs::PublicKeyPem(log_cert_.get()))
                  .ok());
  const char* src = std::getenv("DX_SOURCE_DIR");
  ASSERT_NE(src, nullptr) << "run under ctest (DX_SOURCE_DIR)";
  auto check = [&](const std::string& note_file) {
    const std::string cmd = absl::StrCat(
        "/usr/bin/python3 ", src,
        "/witness/testdata/check_cosigned_checkpoint.py ", dir, "/", note_file,
        " ", kOrigin, " ", dir, "/log.pem ", kWitnessName, " ",
        absl::Base64Escape(witness_public_key_));
    return std::system(cmd.c_str());
  };
  EXPECT_EQ(check("good.note"), 0);
  // The checker is not a rubber stamp: a changed root fails it.
  std::string forged = cosigned;
  const size_t root_at = forged.find('\n', forged.find('\n') + 1) + 1;
  forged[root_at] = forged[root_at] == 'A' ? 'B' : 'A';
  ASSERT_TRUE(WriteFileAtomically(dir + "/forged.note", forged).ok());
  EXPECT_NE(check("forged.note"), 0);
}

TEST_F(WitnessTest, RefusesAsTheSpecSays) {
  auto witness = MakeWitness();
  Tree tree(6);
  ASSERT_EQ(witness->AddCheckpoint(Request(0, {}, SignedCheckpoint(tree)))
                .http_status,
            200);
  Tree bigger(13);

  // 404: a log this witness does not know.
  auto r = witness->AddCheckpoint(
      Request(6, bigger.Proof(6),
              SignedCheckpoint(bigger, nullptr, "stranger.example/log")));
  EXPECT_EQ(r.http_status, 404) << r.reason;

  // 403: signed by a key the witness does not trust for this origin.
  r = witness->AddCheckpoint(Request(
      6, bigger.Proof(6), SignedCheckpoint(bigger, other_note_signer_.get())));
  EXPECT_EQ(r.http_status, 403) << r.reason;

  // 409: an old size other than the one cosigned, with the size in the body.
  r = witness->AddCheckpoint(
      Request(4, bigger.Proof(4), SignedCheckpoint(bigger)));
  EXPECT_EQ(r.http_status, 409) << r.reason;
  EXPECT_EQ(r.content_type, "text/x.tlog.size");
  EXPECT_EQ(r.body, "6\n");
  EXPECT_FALSE(r.evidence_of_misbehaviour);

  // 400: old size above the checkpoint's.
  Tree smaller(5);
  r = witness->AddCheckpoint(Request(6, {}, SignedCheckpoint(smaller)));
  EXPECT_EQ(r.http_status, 400) << r.reason;
  // A lower tree size claimed from its own size: not what was cosigned.
  r = witness->AddCheckpoint(Request(5, {}, SignedCheckpoint(smaller)));
  EXPECT_EQ(r.http_status, 409) << r.reason;

  // 422: a truncated proof, and a proof of another size.
  std::vector<std::string> proof = bigger.Proof(6);
  ASSERT_GE(proof.size(), 2u);
  std::vector<std::string> truncated(proof.begin(), proof.end() - 1);
  r = witness->AddCheckpoint(Request(6, truncated, SignedCheckpoint(bigger)));
  EXPECT_EQ(r.http_status, 422) << r.reason;
  EXPECT_TRUE(r.evidence_of_misbehaviour);
  r = witness->AddCheckpoint(
      Request(6, bigger.Proof(4), SignedCheckpoint(bigger)));
  EXPECT_EQ(r.http_status, 422) << r.reason;

  // Nothing refused moved the witness.
  EXPECT_EQ(witness->Latest(kOrigin)->size, 6u);
  EXPECT_EQ(witness->Latest(kOrigin)->root_hash, tree.Root());
  // And the honest extension still goes through.
  r = witness->AddCheckpoint(Request(6, proof, SignedCheckpoint(bigger)));
  EXPECT_EQ(r.http_status, 200) << r.reason;
}

TEST_F(WitnessTest, RefusesARewrittenLog) {
  auto witness = MakeWitness();
  Tree tree(10);
  const std::string first = SignedCheckpoint(tree);
  ASSERT_EQ(witness->AddCheckpoint(Request(0, {}, first)).http_status, 200);
  // Same size, another root (the data dir replaced): 409, as evidence.
  Tree rewritten(10, "rewritten ");
  const std::string forged = SignedCheckpoint(rewritten);
  auto r = witness->AddCheckpoint(Request(10, {}, forged));
  EXPECT_EQ(r.http_status, 409) << r.reason;
  EXPECT_TRUE(r.evidence_of_misbehaviour);
  EXPECT_NE(r.reason.find("rewritten"), std::string::npos);
  // Both checkpoints, for the audit record: the log signed each.
  EXPECT_EQ(r.origin, kOrigin);
  EXPECT_EQ(r.old_size, 10u);
  EXPECT_EQ(r.cosigned.size, 10u);
  EXPECT_EQ(r.cosigned.root_hash, tree.Root());
  EXPECT_EQ(r.cosigned.note, first);
  EXPECT_EQ(r.submitted.size, 10u);
  EXPECT_EQ(r.submitted.root_hash, rewritten.Root());
  EXPECT_EQ(r.submitted.note, forged);
  // The same checkpoint again is fine (a retry).
  r = witness->AddCheckpoint(Request(10, {}, SignedCheckpoint(tree)));
  EXPECT_EQ(r.http_status, 200) << r.reason;
  // A rewritten log grown further: its own proof is valid for its own
  // history, not for the one cosigned. 422, as evidence.
  rewritten.Append("x");
  rewritten.Append("y");
  r = witness->AddCheckpoint(
      Request(10, rewritten.Proof(10), SignedCheckpoint(rewritten)));
  EXPECT_EQ(r.http_status, 422) << r.reason;
  EXPECT_TRUE(r.evidence_of_misbehaviour);
  EXPECT_EQ(witness->Latest(kOrigin)->root_hash, tree.Root());
}

// Two logs' worth of racing submissions from the same old size: the
// check and the update are one step, so exactly one of each pair is
// cosigned and the recorded size only grows (the spec's rollback race).
TEST_F(WitnessTest, RacingSubmissionsNeverRollTheSizeBack) {
  auto witness = MakeWitness();
  Tree tree(1);
  ASSERT_EQ(witness->AddCheckpoint(Request(0, {}, SignedCheckpoint(tree)))
                .http_status,
            200);
  for (int round = 0; round < 50; ++round) {
    const uint64_t old_size = tree.size();
    Tree near = tree, far = tree;
    near.Append(absl::StrCat("near ", round));
    far.Append(absl::StrCat("near ", round));
    far.Append(absl::StrCat("far ", round));
    const std::string a =
        Request(old_size, near.Proof(old_size), SignedCheckpoint(near));
    const std::string b =
        Request(old_size, far.Proof(old_size), SignedCheckpoint(far));
    int status_a = 0, status_b = 0;
    std::thread ta([&] { status_a = witness->AddCheckpoint(a).http_status; });
    std::thread tb([&] { status_b = witness->AddCheckpoint(b).http_status; });
    ta.join();
    tb.join();
    ASSERT_EQ((status_a == 200) + (status_b == 200), 1)
        << status_a << " " << status_b;
    ASSERT_EQ(status_a == 200 ? status_b : status_a, 409);
    tree = status_a == 200 ? near : far;
    ASSERT_EQ(witness->Latest(kOrigin)->size, tree.size());
  }
}

TEST_F(WitnessTest, RefusesMalformedRequests) {
  auto witness = MakeWitness();
  Tree tree(4);
  const std::string cp = SignedCheckpoint(tree);
  const std::string hash = absl::Base64Escape(std::string(32, 'h'));
  for (const std::string& body : std::vector<std::string>{
           "old 01\n\n" + cp, "old -1\n\n" + cp, "old 0\n" + cp,
           "olde 0\n\n" + cp, "old 0\nnot base64!\n\n" + cp,
           "old 0\n" + absl::Base64Escape("short") + "\n\n" + cp,
           "old 0\n\n" + cp.substr(0, cp.size() - 1), "old 0\n\n",
           "old 0\n\n" + absl::StrReplaceAll(cp, {{"\n4\n", "\n\t4\n"}})}) {
    auto r = witness->AddCheckpoint(body);
    EXPECT_EQ(r.http_status, 400) << absl::CEscape(body) << ": " << r.reason;
  }
  std::string many = "old 0\n";
  for (size_t i = 0; i <= kMaxProofLines; ++i) many += hash + "\n";
  auto r = witness->AddCheckpoint(many + "\n" + cp);
  EXPECT_EQ(r.http_status, 400) << r.reason;
  // A proof from size 0 must be empty.
  r = witness->AddCheckpoint("old 0\n" + hash + "\n\n" + cp);
  EXPECT_EQ(r.http_status, 422) << r.reason;
  EXPECT_FALSE(witness->Latest(kOrigin).ok());
}

}  // namespace
}  // namespace dx::witness
