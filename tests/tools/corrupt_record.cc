// dx_corrupt_record: a test tool that flips one byte of one stored audit
// record, as an attacker with disk access would (the gateway must be
// stopped). Used to prove that `dxctl audit verify` names the record.
//
//   dx_corrupt_record DATA_DIR SEQ
#include <rocksdb/db.h>

#include <cstdlib>
#include <iostream>

#include "audit/keys.h"
#include "audit/state_db.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: dx_corrupt_record DATA_DIR SEQ\n";
    return 2;
  }
  dx::audit::StateDb::Options o;
  o.path = std::string(argv[1]) + "/state";
  auto db = dx::audit::StateDb::Open(o);
  if (!db.ok()) {
    std::cerr << db.status() << "\n";
    return 1;
  }
  const std::string key =
      dx::audit::EncodeBigEndian64(std::strtoull(argv[2], nullptr, 10));
  std::string value;
  rocksdb::Status s = (*db)->db()->Get({}, (*db)->records(), key, &value);
  if (!s.ok() || value.empty()) {
    std::cerr << "no such record: " << s.ToString() << "\n";
    return 1;
  }
  value[value.size() / 2] ^= 0x01;
  rocksdb::WriteOptions wo;
  wo.sync = true;
  s = (*db)->db()->Put(wo, (*db)->records(), key, value);
  std::cout << (s.ok() ? "flipped one byte of record " : "failed: ") << argv[2]
            << "\n";
  return s.ok() ? 0 : 1;
}
