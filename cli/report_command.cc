// dxctl report: the signed statistics report of a day or a month of
// Vietnam's calendar (UTC+7) from one node's Audit service, for the
// national reporting system (docs/AUDIT.md#statistics-reports). JSON is the
// SignedStatisticsReport as the node signed it (report_bytes, signature,
// certificate, and the report parsed); CSV is one value a row, with the
// signed bytes in base64 so that the file alone can be checked. An
// auditor's certificate is needed.
#include <grpcpp/grpcpp.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "audit/statistics.h"
#include "cli/command.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/remote.h"
#include "common/files.h"
#include "dx/v1/audit.grpc.pb.h"

namespace dx::cli {
namespace {

std::function<int(const Flags&)> Report(v1::ReportPeriod period) {
  return [period](const Flags& f) {
    const char* form =
        period == v1::REPORT_PERIOD_DAY ? "day YYYY-MM-DD" : "month YYYY-MM";
    if (f.positional().size() != 1) {
      return cli::Fail("report", absl::InvalidArgumentError(absl::StrCat(
                                     "give one date: dxctl report ", form)));
    }
    const std::string format = f.Get("format", "json");
    if (format != "json" && format != "csv") {
      return cli::Fail("report",
                       absl::InvalidArgumentError("--format is json or csv"));
    }
    // The date is checked here too, so that a typo costs no call.
    if (auto w = audit::ReportWindowFor(period, f.positional()[0]); !w.ok()) {
      return cli::Fail("report", w.status());
    }
    auto remote = RemoteNode::Open(f);
    if (!remote.ok()) return cli::Fail("report", remote.status());
    v1::StatisticsReportRequest req;
    req.set_period(period);
    req.set_date(f.positional()[0]);
    v1::SignedStatisticsReport out;
    RemoteService<v1::Audit> service(*std::move(remote));
    absl::Status s =
        service.Call(&v1::Audit::Stub::StatisticsReport, req, &out);
    if (!s.ok()) return cli::FailRpc("report", s);
    const std::string text =
        format == "csv" ? audit::ReportToCsv(out)
                        : absl::StrCat(Json(out, /*pretty=*/true), "\n");
    if (f.Has("out")) {
      absl::Status w = WriteFileAtomically(f.Get("out"), text);
      if (!w.ok()) return cli::Fail("report", w);
      std::cerr << "report of " << out.report().date() << " (tree size "
                << out.report().tree_size() << ") written to " << f.Get("out")
                << "\n";
      return kExitOk;
    }
    std::cout << text;
    return kExitOk;
  };
}

const CommandTable& ReportTable() {
  static const auto* table = new CommandTable{
      "report",
      "usage: dxctl report SUBCOMMAND DATE [flags]\n\n",
      R"(
Periods are Vietnam's calendar (UTC+7). The report is computed at the
node's newest signed tree head and signed by its log key: check it with
openssl (docs/AUDIT.md#statistics-reports).
connection: --gateway HOST:PORT --pki DIR --person NAME (an auditor; or
            DXCTL_PERSON=NAME), or --ca F --cert F --key F
)",
      {"gateway", "pki", "person", "ca", "cert", "key", "format", "out"},
      {},
      {
          {"day",
           "day YYYY-MM-DD [--format json|csv] [--out FILE]",
           "the signed statistics report of one day (UTC+7)",
           {},
           {},
           {},
           Report(v1::REPORT_PERIOD_DAY)},
          {"month",
           "month YYYY-MM [--format json|csv] [--out FILE]",
           "the signed statistics report of one month (UTC+7)",
           {},
           {},
           {},
           Report(v1::REPORT_PERIOD_MONTH)},
      }};
  return *table;
}

}  // namespace

int RunReport(const std::vector<std::string>& args) {
  return Dispatch(ReportTable(), args);
}

}  // namespace dx::cli
