#include "core/filter_eval.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <system_error>
#include <utility>

namespace qoewatch::sim {

namespace {

bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9');
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_utf8_continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// 1-based column of the byte at `at`, counting characters rather than bytes.
std::size_t column_of(std::string_view text, std::size_t at) {
  std::size_t column = 1;
  for (std::size_t i = 0; i < at && i < text.size(); ++i)
    if (!is_utf8_continuation(text[i])) ++column;
  return column;
}

// The whole (UTF-8) character starting at `at`, so a message quotes it intact.
std::string_view character_at(std::string_view text, std::size_t at) {
  std::size_t end = at + 1;
  while (end < text.size() && is_utf8_continuation(text[end])) ++end;
  return text.substr(at, end - at);
}

// `word` spelled like `upper` (an upper-case keyword) in any mix of cases.
bool is_spelled(std::string_view word, std::string_view upper) {
  return std::equal(word.begin(), word.end(), upper.begin(), upper.end(), [](char w, char u) {
    return (w >= 'a' && w <= 'z' ? static_cast<char>(w - 'a' + 'A') : w) == u;
  });
}

bool is_keyword(std::string_view word) {
  return is_spelled(word, "AND") || is_spelled(word, "OR") || is_spelled(word, "NOT");
}

// What people paste instead of an operator or a space, and what to write instead.
std::string hint_for(std::string_view character) {
  if (character == "\u2265") return " (write >=)";
  if (character == "\u2264") return " (write <=)";
  if (character == "\u2260") return " (write !=)";
  if (character == "\u00a0") return " (a no-break space: use an ordinary space)";
  return {};
}

// Slot of `name` in `names`, appending it when new.
std::size_t slot_for(std::vector<std::string>& names, std::string_view name) {
  auto it = std::find(names.begin(), names.end(), name);
  if (it != names.end()) return static_cast<std::size_t>(it - names.begin());
  names.emplace_back(name);
  return names.size() - 1;
}

constexpr int max_open = 100;  // NOT and "(" open at once

}  // namespace

bool is_field_name(std::string_view s) {
  return !s.empty() && is_name_start(s.front()) && std::all_of(s.begin(), s.end(), is_name_char);
}

// ---- qoefilter ----

// Reads a condition straight from the characters (no token stream) and emits postfix code as
// it goes. Every step first steps over blanks, then looks at what stands there; the first
// problem found is the one reported.
class condition_reader {
 public:
  condition_reader(std::string_view text, qoe_condition& out) : text_(text), out_(out) {}

  std::optional<filter_error> read_all() {
    skip_blanks();
    if (at_ == text_.size()) {
      fail(at_, "no condition (write one such as latency > 5)");
    } else if (condition()) {
      skip_blanks();
      if (at_ < text_.size()) {
        if (text_[at_] == ')')
          fail(at_, "')' closes nothing");
        else
          fail(at_, "expected AND, OR or the end of the condition, found " + what_is_here());
      }
    }
    return error_;
  }

 private:
  using opcode = qoe_condition::opcode;
  using relation = qoe_condition::relation;

  // condition := conjunction { OR conjunction }
  bool condition() {
    if (!conjunction()) return false;
    while (take_keyword("OR")) {
      if (!conjunction()) return false;
      emit(opcode::either);
    }
    return true;
  }

  // conjunction := factor { AND factor }
  bool conjunction() {
    if (!factor()) return false;
    while (take_keyword("AND")) {
      if (!factor()) return false;
      emit(opcode::both);
    }
    return true;
  }

  // factor := NOT factor | "(" condition ")" | comparison
  bool factor() {
    skip_blanks();
    const std::string_view w = word_here();
    const bool negates = is_spelled(w, "NOT");
    const bool groups = w.empty() && at_ < text_.size() && text_[at_] == '(';
    if (!negates && !groups) return comparison();
    // Bounded nesting: a generated or hostile condition must not exhaust the stack.
    if (open_ == max_open)
      return fail(at_, "more than " + std::to_string(max_open) +
                           " NOT and '(' open at once (simplify the condition)");
    ++open_;
    bool ok = false;
    if (negates) {
      at_ += w.size();
      ok = factor();
      if (ok) emit(opcode::invert);
    } else {
      const std::size_t opened_at = at_++;
      ok = condition();
      if (ok) {
        skip_blanks();
        if (at_ < text_.size() && text_[at_] == ')') {
          ++at_;
        } else if (at_ == text_.size()) {
          ok = fail(opened_at, "'(' has no matching ')'");
        } else {
          ok = fail(at_, "expected AND, OR or ')', found " + what_is_here());
        }
      }
    }
    --open_;
    return ok;
  }

  // comparison := name relation number
  bool comparison() {
    skip_blanks();
    const std::string_view name = word_here();
    if (name.empty() || is_keyword(name)) {
      if (number_length() > 0)
        return fail(at_,
                    "a condition starts with the metric, then the number (latency > 5); "
                    "found " +
                        what_is_here());
      return fail(at_, "expected a metric name, found " + what_is_here());
    }
    at_ += name.size();

    skip_blanks();
    std::optional<relation> rel = take_relation();
    if (!rel)
      return fail(at_, "expected a comparison (> >= < <= = !=) after '" + std::string(name) +
                           "', found " + what_is_here());
    const std::string_view rel_text = text_.substr(rel_at_, at_ - rel_at_);

    skip_blanks();
    const std::size_t len = number_length();
    if (len == 0)
      return fail(at_, "'" + std::string(rel_text) + "' must be followed by a number, found " +
                           what_is_here());
    std::string_view digits = text_.substr(at_, len);
    if (digits.front() == '+') digits.remove_prefix(1);  // from_chars takes no '+'
    double bound = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bound);
    if (ec == std::errc::result_out_of_range)
      return fail(at_, "the number '" + std::string(text_.substr(at_, len)) +
                           "' is too large or too small for a double");
    if (ec != std::errc{} || end != digits.data() + digits.size() || !std::isfinite(bound))
      return fail(at_, "'" + std::string(text_.substr(at_, len)) + "' is not a number");
    at_ += len;

    qoe_condition::instruction in;
    in.code = opcode::test;
    in.rel = *rel;
    in.slot = static_cast<std::uint32_t>(slot_for(out_.names_, name));
    in.bound = bound;
    out_.code_.push_back(in);
    return true;
  }

  // ---- looking at the characters ----

  void skip_blanks() {
    while (at_ < text_.size() &&
           (text_[at_] == ' ' || text_[at_] == '\t' || text_[at_] == '\n' || text_[at_] == '\r'))
      ++at_;
  }

  // The name (or keyword) that starts here, the whole of it; empty when none does.
  std::string_view word_here() const {
    if (at_ >= text_.size() || !is_name_start(text_[at_])) return {};
    std::size_t end = at_ + 1;
    while (end < text_.size() && is_name_char(text_[end])) ++end;
    return text_.substr(at_, end - at_);
  }

  // Steps over the keyword `upper` when it is the next word.
  bool take_keyword(std::string_view upper) {
    skip_blanks();
    const std::string_view w = word_here();
    if (!is_spelled(w, upper)) return false;
    at_ += w.size();
    return true;
  }

  // Reads the longest relation here: `>=` rather than `>`, `==` rather than `=`.
  std::optional<relation> take_relation() {
    rel_at_ = at_;
    if (at_ >= text_.size()) return std::nullopt;
    const char first = text_[at_];
    const bool then_equals = at_ + 1 < text_.size() && text_[at_ + 1] == '=';
    std::optional<relation> r;
    switch (first) {
      case '>':
        r = then_equals ? relation::at_least : relation::above;
        break;
      case '<':
        r = then_equals ? relation::at_most : relation::below;
        break;
      case '=':
        r = relation::equal;
        break;
      case '!':
        if (then_equals) r = relation::differs;
        break;
      default:
        break;
    }
    if (r) at_ += then_equals ? 2 : 1;
    return r;
  }

  // Bytes of the number starting here, 0 when none does: an optional sign, digits with at
  // most one point and at least one digit, then an exponent only when digits follow its `e`
  // (so `5e` is the number 5 followed by the word `e`).
  std::size_t number_length() const {
    const std::size_t n = text_.size();
    std::size_t i = at_;
    if (i < n && (text_[i] == '+' || text_[i] == '-')) ++i;
    std::size_t mantissa_digits = 0;
    for (; i < n && is_digit(text_[i]); ++i) ++mantissa_digits;
    if (i < n && text_[i] == '.')
      for (++i; i < n && is_digit(text_[i]); ++i) ++mantissa_digits;
    if (mantissa_digits == 0) return 0;
    if (i < n && (text_[i] == 'e' || text_[i] == 'E')) {
      std::size_t j = i + 1;
      if (j < n && (text_[j] == '+' || text_[j] == '-')) ++j;
      if (j < n && is_digit(text_[j])) {
        while (j < n && is_digit(text_[j])) ++j;
        i = j;
      }
    }
    return i - at_;
  }

  // What stands here, for a message: the end, a whole word, a number or one character.
  std::string what_is_here() const {
    if (at_ >= text_.size()) return "the end of the text";
    if (std::string_view w = word_here(); !w.empty()) return "'" + std::string(w) + "'";
    if (std::size_t len = number_length(); len > 0)
      return "'" + std::string(text_.substr(at_, len)) + "'";
    const std::string_view c = character_at(text_, at_);
    return "'" + std::string(c) + "'" + hint_for(c);
  }

  void emit(opcode code) {
    qoe_condition::instruction in;
    in.code = code;
    out_.code_.push_back(in);
  }

  // Records the first problem; returns false so callers can `return fail(...)`.
  bool fail(std::size_t at, std::string message) {
    if (!error_) error_ = filter_error{column_of(text_, at), std::move(message)};
    return false;
  }

  std::string_view text_;
  qoe_condition& out_;
  std::size_t at_ = 0;
  std::size_t rel_at_ = 0;
  int open_ = 0;
  std::optional<filter_error> error_;
};

std::variant<qoe_condition, filter_error> qoe_condition::compile(std::string_view text) {
  qoe_condition out;
  if (std::optional<filter_error> e = condition_reader(text, out).read_all()) return *e;
  // The nesting bound keeps the evaluation stack within stack_capacity; checked, not assumed.
  std::size_t depth = 0, deepest = 0;
  for (const instruction& in : out.code_) {
    if (in.code == opcode::test) deepest = std::max(deepest, ++depth);
    if (in.code == opcode::both || in.code == opcode::either) --depth;
  }
  if (deepest > stack_capacity) return filter_error{1, "the condition is too complex to evaluate"};
  return out;
}

qoe_condition::verdict qoe_condition::judge(std::span<const std::optional<double>> values) const {
  if (values.size() < names_.size()) return verdict::unjudged;
  for (std::size_t i = 0; i < names_.size(); ++i)
    if (!values[i]) return verdict::unjudged;

  std::array<bool, stack_capacity> stack{};
  std::size_t top = 0;  // values on the stack
  for (const instruction& in : code_) {
    switch (in.code) {
      case opcode::test: {
        const double v = *values[in.slot];
        bool holds = false;
        switch (in.rel) {
          case relation::above:
            holds = v > in.bound;
            break;
          case relation::at_least:
            holds = v >= in.bound;
            break;
          case relation::below:
            holds = v < in.bound;
            break;
          case relation::at_most:
            holds = v <= in.bound;
            break;
          case relation::equal:
            holds = v == in.bound;
            break;
          case relation::differs:
            holds = v != in.bound;
            break;
        }
        stack[top++] = holds;
        break;
      }
      case opcode::invert:
        stack[top - 1] = !stack[top - 1];
        break;
      case opcode::both:
        --top;
        stack[top - 1] = stack[top - 1] && stack[top];
        break;
      case opcode::either:
        --top;
        stack[top - 1] = stack[top - 1] || stack[top];
        break;
    }
  }
  return stack[0] ? verdict::match : verdict::no_match;
}

// ---- filter ----

std::variant<dimension_match, filter_error> dimension_match::compile(std::string_view text) {
  dimension_match out;
  const std::size_t n = text.size();
  std::size_t at = 0;
  auto skip_blanks = [&] {
    while (at < n && (text[at] == ' ' || text[at] == '\t')) ++at;
  };
  auto error = [text](std::size_t where, std::string message) {
    return filter_error{column_of(text, where), std::move(message)};
  };
  auto trimmed = [](std::string_view s) {
    const std::size_t first = s.find_first_not_of(" \t");
    if (first == std::string_view::npos) return std::string_view{};
    return s.substr(first, s.find_last_not_of(" \t") - first + 1);
  };

  for (skip_blanks(); at < n; skip_blanks()) {
    if (text[at] != '[')
      return error(at, "a group starts with '[' (as in [country=US|Canada]), found '" +
                           std::string(character_at(text, at)) + "'");
    const std::size_t opened_at = at++;
    skip_blanks();
    const std::size_t name_at = at;
    if (at < n && is_name_start(text[at]))
      while (at < n && is_name_char(text[at])) ++at;
    if (at == name_at) return error(at, "a dimension name must follow '['");
    const std::string_view name = text.substr(name_at, at - name_at);
    skip_blanks();
    if (at >= n || text[at] != '=')
      return error(at, "'=' must follow the dimension name '" + std::string(name) + "'");
    ++at;

    group g;
    g.slot = slot_for(out.names_, name);
    for (;;) {
      const std::size_t stop = text.find_first_of("[]|", at);
      if (stop == std::string_view::npos) return error(opened_at, "'[' has no matching ']'");
      if (text[stop] == '[')
        return error(stop, "a group cannot hold '[' (close it with ']' first)");
      const std::string_view value = trimmed(text.substr(at, stop - at));
      if (value.empty())
        return error(at, "a value for dimension '" + std::string(name) + "' is empty");
      g.allowed.emplace_back(value);
      at = stop + 1;
      if (text[stop] == ']') break;
    }
    out.groups_.push_back(std::move(g));
  }
  return out;
}

bool dimension_match::accepts(std::span<const std::optional<std::string_view>> values) const {
  for (const group& g : groups_) {
    if (g.slot >= values.size() || !values[g.slot]) return false;
    const std::string_view v = *values[g.slot];
    if (std::find(g.allowed.begin(), g.allowed.end(), v) == g.allowed.end()) return false;
  }
  return true;
}

}  // namespace qoewatch::sim
