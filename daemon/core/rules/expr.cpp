#include "rules/expr.hpp"

#include "rules/identifier.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <utility>

namespace qoewatch::rules {

std::string_view to_string(cmp_op op) {
  switch (op) {
    case cmp_op::gt:
      return ">";
    case cmp_op::ge:
      return ">=";
    case cmp_op::lt:
      return "<";
    case cmp_op::le:
      return "<=";
    case cmp_op::eq:
      return "=";
    case cmp_op::ne:
      return "!=";
  }
  return "?";
}

bool compare(double lhs, cmp_op op, double rhs) {
  switch (op) {
    case cmp_op::gt:
      return lhs > rhs;
    case cmp_op::ge:
      return lhs >= rhs;
    case cmp_op::lt:
      return lhs < rhs;
    case cmp_op::le:
      return lhs <= rhs;
    case cmp_op::eq:
      return lhs == rhs;
    case cmp_op::ne:
      return lhs != rhs;
  }
  return false;
}

expr expr::make_compare(std::string metric, cmp_op op, double value) {
  expr e;
  e.k = kind::compare;
  e.cmp = comparison{std::move(metric), op, value};
  return e;
}

expr expr::make_not(expr child) {
  expr e;
  e.k = kind::not_;
  e.children.push_back(std::move(child));
  return e;
}

expr expr::make_and(std::vector<expr> children) {
  expr e;
  e.k = kind::and_;
  e.children = std::move(children);
  return e;
}

expr expr::make_or(std::vector<expr> children) {
  expr e;
  e.k = kind::or_;
  e.children = std::move(children);
  return e;
}

namespace {

enum class tok { ident, number, op, lparen, rparen, percent, kw_and, kw_or, kw_not, end, bad };

struct token {
  tok type = tok::end;
  std::string_view text;
  std::size_t pos = 0;  // 0-based offset
  cmp_op op = cmp_op::gt;
  double number = 0;
  std::string problem;  // tok::bad only: a message that beats the parser's contextual one
};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// Length of the UTF-8 sequence starting at text[pos] (1 for ASCII or malformed input), so
// an error can quote a whole character rather than its first byte.
std::size_t utf8_length(std::string_view text, std::size_t pos) {
  auto lead = static_cast<unsigned char>(text[pos]);
  std::size_t len = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  std::size_t n = 1;
  while (n < len && pos + n < text.size() &&
         (static_cast<unsigned char>(text[pos + n]) & 0xC0) == 0x80)
    ++n;
  return n;
}

std::string describe_foreign(std::string_view ch) {
  if (ch == "\u2265") return "unexpected character '\u2265' (write >=)";
  if (ch == "\u2264") return "unexpected character '\u2264' (write <=)";
  if (ch == "\u2260") return "unexpected character '\u2260' (write !=)";
  if (ch == "\u00a0") return "unexpected no-break space (U+00A0); use an ordinary space";
  return "unexpected character '" + std::string(ch) +
         "' (metric names use ASCII letters, digits and '_')";
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 'a' + 'A');
    if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 'a' + 'A');
    if (x != y) return false;
  }
  return true;
}

class lexer {
 public:
  explicit lexer(std::string_view text) : text_(text) {}

  token next() {
    while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
    token t;
    t.pos = pos_;
    if (pos_ >= text_.size()) return t;
    char c = text_[pos_];
    if (c == '(' || c == ')' || c == '%') {
      t.type = c == '(' ? tok::lparen : c == ')' ? tok::rparen : tok::percent;
      t.text = text_.substr(pos_++, 1);
      return t;
    }
    if (is_identifier_start(c)) {
      std::size_t start = pos_;
      while (pos_ < text_.size() && is_identifier_char(text_[pos_])) ++pos_;
      t.text = text_.substr(start, pos_ - start);
      t.type = iequals(t.text, "AND")   ? tok::kw_and
               : iequals(t.text, "OR")  ? tok::kw_or
               : iequals(t.text, "NOT") ? tok::kw_not
                                        : tok::ident;
      return t;
    }
    if (c == '>' || c == '<' || c == '=' || c == '!') {
      bool eq_next = pos_ + 1 < text_.size() && text_[pos_ + 1] == '=';
      std::size_t len = 1;
      t.type = tok::op;
      if (c == '>') {
        t.op = eq_next ? cmp_op::ge : cmp_op::gt;
        len = eq_next ? 2 : 1;
      } else if (c == '<') {
        t.op = eq_next ? cmp_op::le : cmp_op::lt;
        len = eq_next ? 2 : 1;
      } else if (c == '=') {
        // `==` is accepted as a courtesy; it means the same as `=`.
        t.op = cmp_op::eq;
        len = eq_next ? 2 : 1;
      } else if (eq_next) {
        t.op = cmp_op::ne;
        len = 2;
      } else {
        t.type = tok::bad;
      }
      t.text = text_.substr(pos_, len);
      pos_ += len;
      return t;
    }
    if (is_digit(c) || c == '-' || c == '+' || c == '.') return lex_number();
    t.type = tok::bad;
    if (static_cast<unsigned char>(c) >= 0x80) {
      t.text = text_.substr(pos_, utf8_length(text_, pos_));
      t.problem = describe_foreign(t.text);
    } else {
      t.text = text_.substr(pos_, 1);
    }
    pos_ += t.text.size();
    return t;
  }

 private:
  token lex_number() {
    token t;
    t.pos = pos_;
    std::size_t i = pos_;
    if (text_[i] == '-' || text_[i] == '+') ++i;
    std::size_t digits = 0;
    while (i < text_.size() && is_digit(text_[i])) ++i, ++digits;
    if (i < text_.size() && text_[i] == '.') {
      ++i;
      while (i < text_.size() && is_digit(text_[i])) ++i, ++digits;
    }
    if (digits > 0 && i < text_.size() && (text_[i] == 'e' || text_[i] == 'E')) {
      // An exponent only when digits follow, so `5AND` still lexes as 5 then AND.
      std::size_t j = i + 1;
      if (j < text_.size() && (text_[j] == '-' || text_[j] == '+')) ++j;
      if (j < text_.size() && is_digit(text_[j])) {
        while (j < text_.size() && is_digit(text_[j])) ++j;
        i = j;
      }
    }
    t.text = text_.substr(pos_, i - pos_);
    pos_ = i;
    if (digits == 0) {
      t.type = tok::bad;
      return t;
    }
    std::string_view s = t.text;
    if (s.front() == '+') s.remove_prefix(1);
    double v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || ptr != s.data() + s.size() || !std::isfinite(v)) {
      t.type = tok::bad;
      if (ec == std::errc::result_out_of_range)
        t.problem = "number '" + std::string(t.text) + "' is out of range";
      return t;
    }
    t.type = tok::number;
    t.number = v;
    return t;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

std::string describe(const token& t) {
  if (t.type == tok::end) return "end of text";
  return "'" + std::string(t.text) + "'";
}

// Recursive descent with one token of lookahead. The first error wins.
class parser {
 public:
  parser(std::string_view text, const parse_options& options) : lex_(text), options_(options) {
    advance();
  }

  parse_result run() {
    parse_result r;
    if (cur_.type == tok::end) {
      fail(cur_, "empty condition (write e.g. latency > 5)");
    } else {
      std::optional<expr> e = parse_or();
      if (e && cur_.type != tok::end) {
        if (cur_.type == tok::rparen)
          fail(cur_, "unmatched ')'");
        else
          fail(cur_, "expected AND, OR or end of condition, found " + describe(cur_));
      } else if (e) {
        r.value = std::move(e);
      }
    }
    if (failed_) r.value.reset();
    if (r.value) r.operands = std::move(operands_);
    r.error = error_;
    return r;
  }

 private:
  void advance() { cur_ = lex_.next(); }

  void fail(const token& at, std::string message) {
    if (failed_) return;
    failed_ = true;
    error_.column = at.pos + 1;
    error_.message = at.problem.empty() ? std::move(message) : at.problem;
  }

  std::optional<expr> parse_or() {
    std::optional<expr> first = parse_and();
    if (!first) return std::nullopt;
    if (cur_.type != tok::kw_or) return first;
    std::vector<expr> children;
    children.push_back(std::move(*first));
    while (cur_.type == tok::kw_or) {
      advance();
      std::optional<expr> next = parse_and();
      if (!next) return std::nullopt;
      children.push_back(std::move(*next));
    }
    return expr::make_or(std::move(children));
  }

  std::optional<expr> parse_and() {
    std::optional<expr> first = parse_unary();
    if (!first) return std::nullopt;
    if (cur_.type != tok::kw_and) return first;
    std::vector<expr> children;
    children.push_back(std::move(*first));
    while (cur_.type == tok::kw_and) {
      advance();
      std::optional<expr> next = parse_unary();
      if (!next) return std::nullopt;
      children.push_back(std::move(*next));
    }
    return expr::make_and(std::move(children));
  }

  std::optional<expr> parse_unary() {
    bool nests = cur_.type == tok::kw_not || cur_.type == tok::lparen;
    // Bounded recursion: a hostile or generated condition must not overflow the stack.
    if (nests && ++depth_ > max_depth) {
      fail(cur_, "nested too deeply (at most " + std::to_string(max_depth) +
                     " levels of NOT and parentheses)");
      return std::nullopt;
    }
    std::optional<expr> e = parse_unary_inner();
    if (nests) --depth_;
    return e;
  }

  std::optional<expr> parse_unary_inner() {
    if (cur_.type == tok::kw_not) {
      advance();
      std::optional<expr> child = parse_unary();
      if (!child) return std::nullopt;
      return expr::make_not(std::move(*child));
    }
    if (cur_.type == tok::lparen) {
      token open = cur_;
      advance();
      std::optional<expr> inner = parse_or();
      if (!inner) return std::nullopt;
      if (cur_.type != tok::rparen) {
        fail(cur_.type == tok::end ? open : cur_,
             cur_.type == tok::end ? "'(' is never closed"
                                   : "expected AND, OR or ')', found " + describe(cur_));
        return std::nullopt;
      }
      advance();
      return inner;
    }
    return parse_comparison();
  }

  std::optional<expr> parse_comparison() {
    if (cur_.type != tok::ident) {
      if (cur_.type == tok::number)
        fail(cur_, "expected " + std::string(operand_word()) + " before " + describe(cur_) +
                       (options_.aggregates ? " (the operand comes first: ratio > 10%)"
                                            : " (the metric comes first: latency > 5)"));
      else
        fail(cur_, "expected " + std::string(operand_word()) + ", found " + describe(cur_));
      return std::nullopt;
    }
    operand_use use;
    use.column = cur_.pos + 1;
    std::string metric(cur_.text);
    advance();
    if (options_.aggregates && cur_.type == tok::lparen) {
      // An aggregate of a metric: name(metric), kept without spaces.
      token open = cur_;
      advance();
      if (cur_.type != tok::ident) {
        fail(cur_, "expected a metric name inside " + metric + "( ), found " + describe(cur_));
        return std::nullopt;
      }
      std::string inner(cur_.text);
      advance();
      if (cur_.type != tok::rparen) {
        fail(cur_.type == tok::end ? open : cur_,
             "expected ')' after " + metric + "(" + inner + ", found " + describe(cur_));
        return std::nullopt;
      }
      advance();
      metric += "(" + inner + ")";
    }
    if (cur_.type != tok::op) {
      fail(cur_, "expected one of > >= < <= = != after '" + metric + "', found " + describe(cur_));
      return std::nullopt;
    }
    token op = cur_;
    advance();
    if (cur_.type != tok::number) {
      fail(cur_, "expected a number after '" + std::string(op.text) + "', found " + describe(cur_));
      return std::nullopt;
    }
    double value = cur_.number;
    use.value_column = cur_.pos + 1;
    advance();
    if (cur_.type == tok::percent) {
      if (!options_.aggregates) {
        fail(cur_, "a percentage is understood only in a population rule's when/resolve_when; "
                   "here write the metric's own number");
        return std::nullopt;
      }
      value /= 100;
      use.percent = true;
      advance();
    }
    use.operand = metric;
    operands_.push_back(std::move(use));
    return expr::make_compare(std::move(metric), op.op, value);
  }

  std::string_view operand_word() const {
    return options_.aggregates ? "an aggregate (sessions, offending, ratio, p95(latency), ...)"
                               : "a metric name";
  }

  static constexpr int max_depth = 100;
  int depth_ = 0;
  lexer lex_;
  parse_options options_;
  token cur_;
  bool failed_ = false;
  std::vector<operand_use> operands_;
  parse_error error_;
};

void print(const expr& e, std::string& out);

void print_operand(const expr& e, std::string& out) {
  bool group = e.k == expr::kind::and_ || e.k == expr::kind::or_;
  if (group) out += '(';
  print(e, out);
  if (group) out += ')';
}

void print(const expr& e, std::string& out) {
  switch (e.k) {
    case expr::kind::compare:
      out += e.cmp.metric;
      out += ' ';
      out += to_string(e.cmp.op);
      out += ' ';
      out += format_number(e.cmp.value);
      return;
    case expr::kind::not_:
      out += "NOT ";
      print_operand(e.children.front(), out);
      return;
    case expr::kind::and_:
    case expr::kind::or_: {
      std::string_view sep = e.k == expr::kind::and_ ? " AND " : " OR ";
      for (std::size_t i = 0; i < e.children.size(); ++i) {
        if (i) out += sep;
        print_operand(e.children[i], out);
      }
      return;
    }
  }
}

void collect_metrics(const expr& e, std::vector<std::string>& out) {
  if (e.k == expr::kind::compare) {
    for (const std::string& m : out)
      if (m == e.cmp.metric) return;
    out.push_back(e.cmp.metric);
    return;
  }
  for (const expr& c : e.children) collect_metrics(c, out);
}

}  // namespace

parse_result parse(std::string_view text, const parse_options& options) {
  return parser(text, options).run();
}

std::string format_number(double v) {
  if (v == 0) v = 0;  // prints -0 as 0
  std::array<char, 32> buf{};
  auto [ptr, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  if (ec != std::errc{}) return "0";
  return std::string(buf.data(), ptr);
}

std::string to_string(const expr& e) {
  std::string out;
  print(e, out);
  return out;
}

std::vector<std::string> metrics_of(const expr& e) {
  std::vector<std::string> out;
  collect_metrics(e, out);
  return out;
}

std::string server_side_filter(const expr& e) {
  std::string out;
  // Conjuncts of a nested AND, `(a>1 AND b>2) AND c>3`, are top-level conjuncts too.
  auto add = [&out](const expr& term, const auto& self) -> void {
    if (term.k == expr::kind::and_) {
      for (const expr& c : term.children) self(c, self);
      return;
    }
    if (term.k != expr::kind::compare || term.cmp.op != cmp_op::gt) return;
    if (!out.empty()) out += " AND ";
    out += term.cmp.metric;
    out += '>';
    out += format_number(term.cmp.value);
  };
  add(e, add);
  return out;
}

}  // namespace qoewatch::rules
