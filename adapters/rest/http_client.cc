#include "adapters/rest/http_client.h"

#include <curl/curl.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace dx::adapters {
namespace {

struct Transfer {
  const HttpRequest* request;
  HttpResponse* response;
  bool too_big = false;
};

size_t OnData(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * n;
  if (t->response->body.size() + bytes > t->request->max_response_bytes) {
    t->too_big = true;
    return 0;  // aborts the transfer
  }
  t->response->body.append(data, bytes);
  return bytes;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<Transfer*>(user)->request->cancelled() ? 1 : 0;
}

// The URL without its query, for messages (queries hold consumers' values).
std::string Printable(const std::string& url) {
  return url.substr(0, url.find('?'));
}

}  // namespace

void InitHttpClientLibrary() { curl_global_init(CURL_GLOBAL_DEFAULT); }

// One share handle: connection cache, DNS and TLS sessions, each kind of
// data behind its own lock.
struct HttpClient::Shared {
  CURLSH* share = curl_share_init();
  absl::Mutex locks[CURL_LOCK_DATA_LAST];

  Shared() {
    curl_share_setopt(share, CURLSHOPT_LOCKFUNC, &Lock);
    curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, &Unlock);
    curl_share_setopt(share, CURLSHOPT_USERDATA, this);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
  ~Shared() { curl_share_cleanup(share); }
  // libcurl pairs these calls itself, which the thread-safety analysis
  // cannot see.
  static void Lock(CURL*, curl_lock_data data, curl_lock_access,
                   void* user) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    static_cast<Shared*>(user)->locks[data].Lock();
  }
  static void Unlock(CURL*, curl_lock_data data,
                     void* user) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    static_cast<Shared*>(user)->locks[data].Unlock();
  }
};

HttpClient::HttpClient(Options options)
    : options_(std::move(options)), shared_(std::make_unique<Shared>()) {}

HttpClient::~HttpClient() = default;

absl::StatusOr<HttpResponse> HttpClient::Send(
    const HttpRequest& request) const {
  HttpResponse response;
  Transfer transfer{&request, &response};
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(),
                                              &curl_easy_cleanup);
  if (curl == nullptr)
    return absl::ResourceExhaustedError("libcurl: no handle");
  CURL* c = curl.get();
  curl_slist* headers = nullptr;
  for (const std::string& h : request.headers)
    headers = curl_slist_append(headers, h.c_str());
  if (request.method == "POST") {
    headers = curl_slist_append(headers, "Content-Type: application/json");
  }
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> header_list(
      headers, &curl_slist_free_all);
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  // The path is sent as built: no dot segment is resolved away.
  curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(c, CURLOPT_SHARE, shared_->share);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options_.ca_file.empty()) {
    curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
  }
  if (!options_.cert_file.empty()) {
    curl_easy_setopt(c, CURLOPT_SSLCERT, options_.cert_file.c_str());
    curl_easy_setopt(c, CURLOPT_SSLKEY, options_.key_file.c_str());
  }
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(std::max<int64_t>(
                       1, absl::ToInt64Milliseconds(request.timeout))));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "dx-rest-adapter");
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // what libcurl decodes
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnData);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &OnProgress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &transfer);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  if (request.method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE,
                     static_cast<long>(request.body.size()));
  }
  const CURLcode rc = curl_easy_perform(c);
  const std::string where = Printable(request.url);
  const std::string why = error[0] ? error : curl_easy_strerror(rc);
  switch (rc) {
    case CURLE_OK:
      break;
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(absl::StrCat(
          "the provider's service at ", where, " did not answer in time"));
    case CURLE_ABORTED_BY_CALLBACK:
      return absl::CancelledError("the gateway cancelled");
    case CURLE_WRITE_ERROR:
      if (transfer.too_big) {
        // The provider misbehaves (not the consumer's answer being too
        // large for the gateway, which RESOURCE_EXHAUSTED means).
        return absl::FailedPreconditionError(
            absl::StrCat("the provider's answer from ", where,
                         " is larger than ", request.max_response_bytes,
                         " bytes (max_response_bytes); it was not read"));
      }
      [[fallthrough]];
    default:
      return absl::UnavailableError(absl::StrCat(
          "cannot reach the provider's service at ", where, ": ", why));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  char* location = nullptr;
  if (curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &location) == CURLE_OK &&
      location != nullptr) {
    response.location = location;
  }
  return response;
}

}  // namespace dx::adapters
