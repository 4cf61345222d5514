#include "policy/text_diff.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace dx::policy {
namespace {

constexpr size_t kContext = 3;
constexpr size_t kMaxCells = 4'000'000;

struct Line {
  char op;  // ' ', '-', '+'
  std::string text;
};

}  // namespace

std::string UnifiedDiff(const std::string& before, const std::string& after,
                        const std::string& before_name,
                        const std::string& after_name) {
  if (before == after) return "";
  std::vector<std::string> a = absl::StrSplit(before, '\n');
  std::vector<std::string> b = absl::StrSplit(after, '\n');
  // Common head and tail are cheap to drop before the quadratic part.
  size_t head = 0;
  while (head < a.size() && head < b.size() && a[head] == b[head]) ++head;
  size_t tail = 0;
  while (tail < a.size() - head && tail < b.size() - head &&
         a[a.size() - 1 - tail] == b[b.size() - 1 - tail]) {
    ++tail;
  }
  const size_t n = a.size() - head - tail, m = b.size() - head - tail;
  if ((n + 1) * (m + 1) > kMaxCells) {
    return absl::StrCat("--- ", before_name, "\n+++ ", after_name,
                        "\n(the documents differ in ", n, " and ", m,
                        " lines: too large to diff; name a dataset)\n");
  }
  // Longest common subsequence table over the middle part.
  std::vector<uint32_t> lcs((n + 1) * (m + 1), 0);
  auto at = [&](size_t i, size_t j) -> uint32_t& {
    return lcs[i * (m + 1) + j];
  };
  for (size_t i = n; i-- > 0;) {
    for (size_t j = m; j-- > 0;) {
      at(i, j) = a[head + i] == b[head + j]
                     ? at(i + 1, j + 1) + 1
                     : std::max(at(i + 1, j), at(i, j + 1));
    }
  }
  std::vector<Line> lines;
  for (size_t i = 0; i < head; ++i) lines.push_back({' ', a[i]});
  size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[head + i] == b[head + j]) {
      lines.push_back({' ', a[head + i]});
      ++i, ++j;
    } else if (i < n && (j == m || at(i + 1, j) >= at(i, j + 1))) {
      lines.push_back({'-', a[head + i++]});
    } else {
      lines.push_back({'+', b[head + j++]});
    }
  }
  for (size_t k = a.size() - tail; k < a.size(); ++k)
    lines.push_back({' ', a[k]});

  // Hunks: changed lines with their context.
  std::string out =
      absl::StrCat("--- ", before_name, "\n+++ ", after_name, "\n");
  size_t k = 0;
  while (k < lines.size()) {
    if (lines[k].op == ' ') {
      ++k;
      continue;
    }
    size_t start = k >= kContext ? k - kContext : 0;
    size_t end = k;
    // Extend while the next change is within 2 * context lines.
    size_t last_change = k;
    for (size_t q = k; q < lines.size(); ++q) {
      if (lines[q].op != ' ') last_change = q;
      if (q - last_change > 2 * kContext) break;
      end = q;
    }
    end = std::min(lines.size() - 1, last_change + kContext);
    size_t a_line = 1, b_line = 1;
    for (size_t q = 0; q < start; ++q) {
      if (lines[q].op != '+') ++a_line;
      if (lines[q].op != '-') ++b_line;
    }
    size_t a_count = 0, b_count = 0;
    for (size_t q = start; q <= end; ++q) {
      if (lines[q].op != '+') ++a_count;
      if (lines[q].op != '-') ++b_count;
    }
    absl::StrAppend(&out, "@@ -", a_line, ",", a_count, " +", b_line, ",",
                    b_count, " @@\n");
    for (size_t q = start; q <= end; ++q) {
      absl::StrAppend(&out, std::string(1, lines[q].op), lines[q].text, "\n");
    }
    k = end + 1;
  }
  return out;
}

}  // namespace dx::policy
