#include "gateway/https_post.h"

#include <curl/curl.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace dx::gateway {
namespace {

struct Received {
  HttpsPostAnswer* answer;
  size_t max_bytes;
};

size_t Collect(char* data, size_t size, size_t n, void* out) {
  auto* r = static_cast<Received*>(out);
  // Returning less than given makes libcurl abort the transfer.
  if (r->answer->body.size() + size * n > r->max_bytes) return 0;
  r->answer->body.append(data, size * n);
  return size * n;
}

size_t Header(char* data, size_t size, size_t n, void* out) {
  absl::string_view line(data, size * n);
  constexpr absl::string_view kName = "content-type:";
  if (absl::StartsWithIgnoreCase(line, kName)) {
    static_cast<HttpsPostAnswer*>(out)->content_type =
        std::string(absl::StripAsciiWhitespace(line.substr(kName.size())));
  }
  return size * n;
}

}  // namespace

void InitHttpsPost() {
  static const bool ready = [] {
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  }();
  (void)ready;
}

absl::StatusOr<HttpsPostAnswer> HttpsPostOnce(const HttpsPostRequest& request) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  char error[CURL_ERROR_SIZE] = {0};
  HttpsPostAnswer answer;
  Received received{&answer, request.max_answer_bytes};
  const std::string content_type =
      absl::StrCat("Content-Type: ", request.content_type);
  curl_slist* headers = curl_slist_append(nullptr, content_type.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                   static_cast<curl_off_t>(request.body.size()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT,
                   static_cast<long>(request.timeout_seconds));
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &received);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, Header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &answer);
  if (!request.ca_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, request.ca_file.c_str());
  }
  if (!request.cert_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, request.cert_file.c_str());
    curl_easy_setopt(curl, CURLOPT_SSLKEY, request.key_file.c_str());
  }
  const CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc == CURLE_WRITE_ERROR) {
    return absl::UnavailableError(
        absl::StrCat(request.url, ": the answer is larger than ",
                     request.max_answer_bytes, " bytes"));
  }
  if (rc != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat(request.url, ": ",
                                               curl_easy_strerror(rc),
                                               error[0] ? ": " : "", error));
  }
  return answer;
}

}  // namespace dx::gateway
