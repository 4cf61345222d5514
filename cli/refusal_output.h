// What dxctl prints for a refused or failed call, in the language of the
// locale (i18n::FromEnvironment): the code, the reason, the legal basis,
// the rule and the audit receipt from the status's ErrorDetail. In
// Vietnamese the gateway's LocalizedMessage in vi-VN leads and its own
// (English) message follows; in English the output is what it always was,
// so scripts that read it keep working.
#ifndef DX_CLI_REFUSAL_OUTPUT_H_
#define DX_CLI_REFUSAL_OUTPUT_H_

#include <string>

#include "i18n/catalogue.h"

namespace grpc {
class Status;
}

namespace dx::cli {

std::string FormatRefusal(const grpc::Status& status, i18n::Lang lang);

}  // namespace dx::cli

#endif  // DX_CLI_REFUSAL_OUTPUT_H_
