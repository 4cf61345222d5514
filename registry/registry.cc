#include "registry/registry.h"

#include "absl/strings/str_cat.h"
#include "certs/crypto.h"
#include "certs/identity.h"
#include "common/bytes.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/yaml_proto.h"
#include "registry/query_keys.h"

namespace dx::registry {

absl::StatusOr<std::shared_ptr<const Registry>> Registry::LoadFile(
    const std::string& path) {
  DX_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return FromYaml(text, path);
}

absl::StatusOr<std::shared_ptr<const Registry>> Registry::FromYaml(
    const std::string& yaml, const std::string& source, uint64_t revision) {
  v1::Registry proto;
  YamlLines lines;
  DX_RETURN_IF_ERROR(YamlToProto(yaml, source, &proto, &lines));
  return FromProto(std::move(proto), source, revision, &lines);
}

absl::StatusOr<std::shared_ptr<const Registry>> Registry::FromProto(
    v1::Registry proto, const std::string& source, uint64_t revision,
    const YamlLines* lines) {
  std::shared_ptr<Registry> r(new Registry());
  r->proto_ = std::move(proto);
  r->revision_ = revision;
  r->digest_ = HexEncode(certs::Sha256(r->proto_.SerializeAsString()));
  auto bad = [&](const std::string& where, const std::string& what) {
    const int line = lines != nullptr ? LineOf(*lines, where) : 0;
    return absl::InvalidArgumentError(
        absl::StrCat(source, line > 0 ? absl::StrCat(":", line) : "",
                     ": field '", where, "': ", what));
  };
  for (int i = 0; i < r->proto_.agencies_size(); ++i) {
    const v1::Agency& a = r->proto_.agencies(i);
    const std::string where = absl::StrCat("agencies[", i, "].code");
    if (!certs::IsValidAgencyCode(a.code())) {
      return bad(where, absl::StrCat("'", a.code(),
                                     "' is not an electronic agency code "
                                     "(e.g. 000.00.00.G01)"));
    }
    if (!r->agencies_.emplace(a.code(), &a).second) {
      return bad(where, absl::StrCat("agency '", a.code(), "' listed twice"));
    }
    for (const auto& s : a.systems()) {
      r->systems_.insert(absl::StrCat(a.code(), "/", s.id()));
    }
  }
  for (int i = 0; i < r->proto_.datasets_size(); ++i) {
    const v1::Dataset& d = r->proto_.datasets(i);
    const std::string where = absl::StrCat("datasets[", i, "]");
    if (d.id().empty()) return bad(where + ".id", "must be set");
    if (!r->datasets_.emplace(d.id(), &d).second) {
      return bad(where + ".id",
                 absl::StrCat("dataset '", d.id(), "' listed twice"));
    }
    if (!r->agencies_.contains(d.provider_agency())) {
      return bad(where + ".provider_agency",
                 absl::StrCat("agency '", d.provider_agency(),
                              "' is not in agencies"));
    }
    if (!d.peer_platform().empty()) {
      // Served by a peer platform's gateway: no adapter of ours.
      if (d.has_adapter()) {
        return bad(where + ".adapter",
                   "a dataset served by a peer_platform names no adapter "
                   "(its platform's gateway answers for it): remove one");
      }
    } else if (d.adapter().address().empty()) {
      return bad(where + ".adapter.address", "must be set (host:port)");
    }
    if (d.fields().empty()) return bad(where + ".fields", "must list fields");
    for (const auto& f : d.fields()) {
      if (!r->fields_.insert(absl::StrCat(d.id(), "/", f.name())).second) {
        return bad(where + ".fields",
                   absl::StrCat("field '", f.name(), "' listed twice"));
      }
    }
    if (absl::Status s = ValidateQueryKeys(d); !s.ok()) {
      // "query_keys[1].field: what": the path up to the colon, for its line.
      const std::string text(s.message());
      const size_t colon = text.find(':');
      return bad(absl::StrCat(where, ".", text.substr(0, colon)),
                 text.substr(colon + 2));
    }
  }
  DX_RETURN_IF_ERROR(r->successions_.Build(r->proto_, bad));
  return std::shared_ptr<const Registry>(std::move(r));
}

const v1::Dataset* Registry::FindDataset(const std::string& id) const {
  auto it = datasets_.find(id);
  return it == datasets_.end() ? nullptr : it->second;
}

const v1::Agency* Registry::FindAgency(const std::string& code) const {
  auto it = agencies_.find(code);
  return it == agencies_.end() ? nullptr : it->second;
}

bool Registry::HasSystem(const std::string& agency,
                         const std::string& system) const {
  return systems_.contains(absl::StrCat(agency, "/", system));
}

bool Registry::HasField(const v1::Dataset& dataset,
                        const std::string& field) const {
  return fields_.contains(absl::StrCat(dataset.id(), "/", field));
}

std::vector<std::string> RemovedStateSecretMarks(const v1::Registry& before,
                                                 const v1::Registry& after) {
  absl::flat_hash_map<std::string, const v1::Dataset*> now;
  for (const v1::Dataset& d : after.datasets()) now.emplace(d.id(), &d);
  std::vector<std::string> out;
  for (const v1::Dataset& d : before.datasets()) {
    auto it = now.find(d.id());
    const v1::Dataset* kept = it == now.end() ? nullptr : it->second;
    if (d.state_secret() && (kept == nullptr || !kept->state_secret())) {
      out.push_back(absl::StrCat("dataset ", d.id()));
    }
    for (const v1::FieldSpec& f : d.fields()) {
      if (!f.state_secret()) continue;
      bool still = false;
      if (kept != nullptr) {
        for (const v1::FieldSpec& g : kept->fields()) {
          if (g.name() == f.name()) still = g.state_secret();
        }
      }
      if (!still) out.push_back(absl::StrCat("field ", d.id(), ".", f.name()));
    }
  }
  return out;
}

}  // namespace dx::registry
