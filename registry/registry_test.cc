#include "registry/registry.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/testing/temp_dir.h"
#include "common/yaml_proto.h"
#include "registry/query_keys.h"
#include "registry/registry_source_conformance.h"

namespace dx::registry {
namespace {

constexpr char kBase[] = R"(
agencies:
  - code: 000.00.00.G01
  - code: 000.00.00.H30
    systems: [{id: hotich}]
datasets:
  - id: bca.population
    provider_agency: 000.00.00.G01
    adapter: {address: "127.0.0.1:1"}
    fields: [{name: citizen_id}, {name: full_name}]
)";

absl::StatusOr<std::shared_ptr<const Registry>> Load(const std::string& yaml) {
  v1::Registry proto;
  absl::Status s = YamlToProto(yaml, "reg.yaml", &proto);
  if (!s.ok()) return s;
  return Registry::FromProto(std::move(proto), "reg.yaml");
}

TEST(RegistryTest, LooksUpDatasetsAgenciesSystemsFields) {
  auto r = Load(kBase);
  ASSERT_TRUE(r.ok()) << r.status();
  const v1::Dataset* d = (*r)->FindDataset("bca.population");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ((*r)->FindDataset("nope"), nullptr);
  EXPECT_NE((*r)->FindAgency("000.00.00.H30"), nullptr);
  EXPECT_TRUE((*r)->HasSystem("000.00.00.H30", "hotich"));
  EXPECT_FALSE((*r)->HasSystem("000.00.00.H30", "other"));
  EXPECT_FALSE((*r)->HasSystem("000.00.00.G01", "hotich"));
  EXPECT_TRUE((*r)->HasField(*d, "full_name"));
  EXPECT_FALSE((*r)->HasField(*d, "salary"));
}

void ExpectError(const std::string& yaml, const std::string& fragment) {
  auto r = Load(yaml);
  ASSERT_FALSE(r.ok()) << "expected an error mentioning " << fragment;
  EXPECT_NE(r.status().message().find(fragment), std::string::npos)
      << r.status();
}

TEST(RegistryTest, ReadsStateSecretMarksAndNamesTheOnesRemoved) {
  auto marked = Load(R"(
agencies: [{code: 000.00.00.G01}]
datasets:
  - id: defence
    provider_agency: 000.00.00.G01
    adapter: {address: "127.0.0.1:1"}
    state_secret: true
    fields: [{name: unit}]
  - id: pop
    provider_agency: 000.00.00.G01
    adapter: {address: "127.0.0.1:1"}
    fields: [{name: citizen_id}, {name: code_name, state_secret: true}]
)");
  ASSERT_TRUE(marked.ok()) << marked.status();
  EXPECT_TRUE((*marked)->FindDataset("defence")->state_secret());
  const v1::Dataset* pop = (*marked)->FindDataset("pop");
  EXPECT_FALSE(pop->state_secret());
  EXPECT_FALSE(pop->fields(0).state_secret());
  EXPECT_TRUE(pop->fields(1).state_secret());
  // A mark is not a number or a word: the YAML says so with its line.
  ExpectError(absl::StrCat(kBase, "    state_secret: maybe\n"), "state_secret");

  const v1::Registry& before = (*marked)->proto();
  EXPECT_TRUE(RemovedStateSecretMarks(before, before).empty());
  v1::Registry unmarked = before;
  unmarked.mutable_datasets(0)->set_state_secret(false);
  unmarked.mutable_datasets(1)->mutable_fields(1)->set_name("alias");
  EXPECT_EQ(
      RemovedStateSecretMarks(before, unmarked),
      (std::vector<std::string>{"dataset defence", "field pop.code_name"}));
  v1::Registry gone = before;
  gone.mutable_datasets()->DeleteSubrange(0, 1);
  EXPECT_EQ(RemovedStateSecretMarks(before, gone),
            (std::vector<std::string>{"dataset defence"}));
  // Setting a mark removes nothing.
  EXPECT_TRUE(RemovedStateSecretMarks(gone, before).empty());
}

std::string Replace(std::string s, const std::string& from,
                    const std::string& to) {
  s.replace(s.find(from), from.size(), to);
  return s;
}

TEST(RegistryTest, RefusesInvalidRegistriesNamingTheField) {
  ExpectError(Replace(kBase, "code: 000.00.00.G01", "code: g01"),
              "agencies[0].code");
  ExpectError(Replace(kBase, "provider_agency: 000.00.00.G01",
                      "provider_agency: 000.00.00.G99"),
              "datasets[0].provider_agency");
  // Who may read what is the sharing policy's, not the registry's.
  ExpectError(std::string(kBase) + "    access: []\n",
              "unknown field 'access'");
  ExpectError(Replace(kBase, "{address: \"127.0.0.1:1\"}", "{}"),
              "adapter.address");
  ExpectError(std::string(kBase) +
                  "  - {id: bca.population, provider_agency: 000.00.00.G01, "
                  "adapter: {address: x}, fields: [{name: a}]}\n",
              "listed twice");
}

// A dataset a peer platform serves (docs/FEDERATION.md#routing-through-
// peers): its gateway answers, so this platform names no adapter for it.
TEST(RegistryTest, APeerPlatformsDatasetNamesNoAdapter) {
  auto r = Load(Replace(kBase, "adapter: {address: \"127.0.0.1:1\"}",
                        "peer_platform: vn.gov.bca"));
  ASSERT_TRUE(r.ok()) << r.status();
  const v1::Dataset* d = (*r)->FindDataset("bca.population");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->peer_platform(), "vn.gov.bca");
  EXPECT_TRUE(d->adapter().address().empty());

  auto both = Load(std::string(kBase) + "    peer_platform: vn.gov.bca\n");
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.status().message().find("datasets[0].adapter"),
            std::string::npos)
      << both.status();
  EXPECT_NE(both.status().message().find("peer_platform"), std::string::npos)
      << both.status();
  EXPECT_EQ(both.status().code(), absl::StatusCode::kInvalidArgument);
  // Any part of an adapter is one: a timeout alone beside peer_platform.
  auto part =
      Load(Replace(kBase, "adapter: {address: \"127.0.0.1:1\"}",
                   "peer_platform: vn.gov.bca\n    adapter: {timeout_ms: 5}"));
  EXPECT_EQ(part.status().code(), absl::StatusCode::kInvalidArgument)
      << part.status();
}

TEST(RegistryTest, QueryKeysAreCheckedAndResolved) {
  const std::string keys =
      std::string(kBase) +
      "    query_keys: [{field: citizen_id, prefix: true}, "
      "{key: name, field: full_name, range: true, required: true}]\n";
  auto r = Load(keys);
  ASSERT_TRUE(r.ok()) << r.status();
  const v1::Dataset& d = *(*r)->FindDataset("bca.population");
  EXPECT_EQ(AcceptedQueryKeys(d),
            (std::vector<std::string>{"citizen_id", "citizen_id.prefix", "name",
                                      "name.from", "name.to"}));
  auto use = ResolveQueryKey(d, "name.to");
  ASSERT_TRUE(use.has_value());
  EXPECT_EQ(use->key->field(), "full_name");
  EXPECT_EQ(use->op, QueryOp::kRange);
  EXPECT_EQ(use->index, 1);
  EXPECT_EQ(ResolveQueryKey(d, "citizen_id")->op, QueryOp::kEquals);
  EXPECT_EQ(ResolveQueryKey(d, "citizen_id.prefix")->op, QueryOp::kPrefix);
  for (const char* bad :
       {"full_name", "name.prefix", "citizen_id.from", "salary", "", ".prefix",
        "citizen_id.prefix.prefix"}) {
    EXPECT_FALSE(ResolveQueryKey(d, bad).has_value()) << bad;
  }
  // None declared: none accepted.
  auto plain = Load(kBase);
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(
      ResolveQueryKey(*(*plain)->FindDataset("bca.population"), "citizen_id")
          .has_value());

  ExpectError(std::string(kBase) + "    query_keys: [{field: shoe_size}]\n",
              "datasets[0].query_keys[0].field': dataset bca.population has no "
              "field 'shoe_size'");
  ExpectError(std::string(kBase) + "    query_keys: [{key: x}]\n",
              "datasets[0].query_keys[0].field': must name the field");
  ExpectError(std::string(kBase) +
                  "    query_keys: [{field: citizen_id}, {key: citizen_id, "
                  "field: full_name}]\n",
              "query_keys[1]': query key 'citizen_id' is declared twice");
  ExpectError(std::string(kBase) +
                  "    query_keys: [{key: \"a.prefix\", field: full_name}]\n",
              "datasets[0].query_keys[0].key': 'a.prefix' is not a key name");
}

// The file source: a change is a new version of the file, read again.
INSTANTIATE_TEST_SUITE_P(
    File, RegistrySourceConformance,
    ::testing::Values(RegistrySourceFactory{
        "File",
        [](const std::string& ns,
           const std::string& seed) -> std::unique_ptr<RegistrySource> {
          const std::string file =
              testing::MakeTempDir("registry-" + ns) + "/registry.yaml";
          EXPECT_TRUE(WriteFileAtomically(file, seed).ok());
          auto source = FileRegistrySource::Open(file);
          EXPECT_TRUE(source.ok()) << source.status();
          return source.ok() ? *std::move(source) : nullptr;
        },
        [](RegistrySource& source, const std::string& yaml) -> absl::Status {
          // As an operator: edit the file, then reload it.
          DX_ASSIGN_OR_RETURN(std::string file, source.ReloadableFile());
          DX_RETURN_IF_ERROR(WriteFileAtomically(file, yaml));
          DX_ASSIGN_OR_RETURN(std::shared_ptr<const Registry> next,
                              Registry::LoadFile(file));
          return source.Reload(std::move(next));
        },
        /*shared=*/false, /*commits=*/false}),
    RegistryFactoryName);

}  // namespace
}  // namespace dx::registry
