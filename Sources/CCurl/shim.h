#include <curl/curl.h>

/* curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call:
   one typed wrapper per argument kind. */
static inline CURLcode instill_curl_set_long(CURL *curl, CURLoption option, long value) {
  return curl_easy_setopt(curl, option, value);
}
static inline CURLcode instill_curl_set_offset(CURL *curl, CURLoption option, curl_off_t value) {
  return curl_easy_setopt(curl, option, value);
}
static inline CURLcode instill_curl_set_string(CURL *curl, CURLoption option, const char *value) {
  return curl_easy_setopt(curl, option, value);
}
static inline CURLcode instill_curl_set_pointer(CURL *curl, CURLoption option, void *value) {
  return curl_easy_setopt(curl, option, value);
}
typedef size_t (*instill_curl_write_callback)(char *data, size_t size, size_t count, void *context);
static inline CURLcode instill_curl_set_write(CURL *curl, instill_curl_write_callback callback, void *context) {
  CURLcode code = curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, callback);
  if (code != CURLE_OK) return code;
  return curl_easy_setopt(curl, CURLOPT_WRITEDATA, context);
}
static inline CURLcode instill_curl_set_header(CURL *curl, instill_curl_write_callback callback, void *context) {
  CURLcode code = curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, callback);
  if (code != CURLE_OK) return code;
  return curl_easy_setopt(curl, CURLOPT_HEADERDATA, context);
}
static inline long instill_curl_response_code(CURL *curl) {
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  return code;
}
static inline const char *instill_curl_content_type(CURL *curl) {
  char *type = NULL;
  curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
  return type;
}
