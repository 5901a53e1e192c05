// Differential test, generated cases: random qoefilter conditions and dimension filters, each
// also damaged at random, fed to the daemon's parser and evaluator and to the simulator's own
// with random rows; both must accept and refuse the same texts and answer the same on every
// row. Fixed seeds (std::mt19937_64), so a failure reproduces; each message carries the text
// and the row. The generators are themselves checked to vary their output, so a generator
// that degenerates (everything refused, every row unjudged) fails here instead of passing
// vacuously.
#include "filter_agreement.hpp"

#include <gtest/gtest.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace filter_agreement;
using rng_t = std::mt19937_64;

constexpr int kConditions = 20000;  // generated conditions; each is also damaged once
constexpr int kFilters = 10000;     // generated dimension filters; each is also damaged once
constexpr int kRowsPerText = 12;

int uniform(rng_t& rng, int lo, int hi) {
  return std::uniform_int_distribution<int>(lo, hi)(rng);
}
bool chance(rng_t& rng, double p) {
  return std::bernoulli_distribution(p)(rng);
}
template <class T>
const T& pick(rng_t& rng, const std::vector<T>& v) {
  return v[static_cast<std::size_t>(uniform(rng, 0, static_cast<int>(v.size()) - 1))];
}

// Inserts, erases, swaps, truncates or duplicates a few times.
std::string damage(rng_t& rng, std::string text, const std::vector<std::string>& inserts) {
  for (int n = uniform(rng, 1, 3); n > 0; --n) {
    if (text.empty()) {
      text = pick(rng, inserts);
      continue;
    }
    const auto at = static_cast<std::size_t>(uniform(rng, 0, static_cast<int>(text.size()) - 1));
    switch (uniform(rng, 0, 4)) {
      case 0:
        text.erase(at, 1);
        break;
      case 1:
        text.insert(at, pick(rng, inserts));
        break;
      case 2:
        if (at + 1 < text.size()) std::swap(text[at], text[at + 1]);
        break;
      case 3:
        text.resize(at);
        break;
      default:
        text.insert(at, text.substr(at, static_cast<std::size_t>(uniform(rng, 1, 6))));
        break;
    }
  }
  return text;
}

// ---- conditions ----

const std::vector<std::string> kMetrics = {"a", "b", "latency", "ANDROID", "NOTE", "ORx", "_x1"};
const std::vector<double> kBounds = {0, 1, 2.5, -1, 0.1, 3, 100, 1e21, -0.5, 0.30000000000000004};
const std::vector<std::string> kRelations = {">", ">=", "<", "<=", "=", "==", "!="};

std::string shortest(double v) {
  std::array<char, 32> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  return ec == std::errc{} ? std::string(buf.data(), end) : "0";
}

// One of several spellings of `v` ("+3", "3.", "3.0", "3e0", ".5", "25e-1").
std::string spell(rng_t& rng, double v) {
  const std::string s = shortest(v);
  const bool plain = s.find_first_of(".e") == std::string::npos;
  switch (uniform(rng, 0, 7)) {
    case 0:
      return v >= 0 ? "+" + s : s;
    case 1:
      return s.find('e') != std::string::npos ? s : plain ? s + ".0" : s + "0";
    case 2:
      return plain ? s + "." : s;
    case 3:
      return s.find('e') != std::string::npos ? s : s + (chance(rng, 0.5) ? "e0" : "E+0");
    case 4:
      if (s.rfind("0.", 0) == 0) return s.substr(1);
      if (s.rfind("-0.", 0) == 0) return "-" + s.substr(2);
      return s;
    case 5:
      if (std::abs(v) < 1e15 && std::floor(v * 10) == v * 10) return shortest(v * 10) + "e-1";
      return s;
    default:
      return s;
  }
}

std::string blank(rng_t& rng) {
  static const std::vector<std::string> kinds = {" ", " ", " ", "  ", "\t", "\n", "\r\n"};
  return chance(rng, 0.12) ? "" : pick(rng, kinds);
}

std::string keyword(rng_t& rng, std::string word) {
  const int style = uniform(rng, 0, 4);
  for (char& c : word) {
    const bool lower = style == 1 || (style == 2 && chance(rng, 0.5));
    if (lower) c = static_cast<char>(c - 'A' + 'a');
  }
  return word;
}

// A condition the grammar accepts unless an empty blank runs a keyword into a name; `open`
// counts the NOT and "(" around the current point, `deepest` the most seen.
struct condition_generator {
  rng_t& rng;
  int open = 0;
  int deepest = 0;

  std::string condition(int budget) { return chain(budget, "OR", true); }

  std::string chain(int budget, const char* word, bool of_conjunctions) {
    std::string out;
    const int n = budget > 0 && chance(rng, 0.35) ? uniform(rng, 2, 3) : 1;
    for (int i = 0; i < n; ++i) {
      if (i) out += blank(rng) + keyword(rng, word) + blank(rng);
      out += of_conjunctions ? chain(budget - 1, "AND", false) : factor(budget - 1);
    }
    return out;
  }

  std::string factor(int budget) {
    const int r = uniform(rng, 0, 9);
    if (budget > 0 && r <= 2) {
      deepest = std::max(deepest, ++open);
      std::string out = r == 0 ? keyword(rng, "NOT") + blank(rng) + factor(budget - 1)
                               : "(" + blank(rng) + condition(budget - 1) + blank(rng) + ")";
      --open;
      return out;
    }
    return pick(rng, kMetrics) + blank(rng) + pick(rng, kRelations) + blank(rng) +
           spell(rng, pick(rng, kBounds));
  }

  // Sometimes wrapped in about a hundred NOT and "(", around the nesting limit.
  std::string text() {
    deepest = 0;
    std::string inner = condition(uniform(rng, 1, 6));
    if (!chance(rng, 0.05)) return inner;
    const int layers = uniform(rng, 94, 104);
    std::string before, after;
    for (int i = 0; i < layers; ++i) {
      if (chance(rng, 0.5)) {
        before += keyword(rng, "NOT") + " ";
      } else {
        before += "(";
        after += ")";
      }
    }
    deepest += layers;
    return before + inner + std::string(after.rbegin(), after.rend());
  }
};

metric_row random_metric_row(rng_t& rng) {
  metric_row row;
  for (const std::string& m : kMetrics) {
    if (chance(rng, 0.1)) continue;  // missing
    const int r = uniform(rng, 0, 99);
    double v = pick(rng, kBounds);
    if (r >= 55 && r < 70) v = std::nextafter(v, chance(rng, 0.5) ? 1e300 : -1e300);
    if (r >= 70 && r < 97) v = std::uniform_real_distribution<double>(-5, 5)(rng);
    if (r >= 97) {
      static const std::vector<double> odd = {
          std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
          -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::max(), -0.0};
      v = pick(rng, odd);
    }
    row[m] = v;
  }
  return row;
}

const std::vector<std::string> kConditionDamage = {
    "(", ")", "NOT ", "AND ", " OR", " ", ">",      "=",      "!", "<",  "-",   "+",
    ".", "e", "E",    "5",    "a",   "_", "\u2265", "\u00a0", "#", "\v", "and", "1e999"};

struct tally {
  std::map<answer, int> answers;
  int texts = 0;
  int refused = 0;
  void add(const std::vector<answer>& a) {
    ++texts;
    if (a.size() == 1 && a.front() == answer::refused) ++refused;
    for (answer x : a)
      if (x != answer::refused) ++answers[x];
  }
  double share(answer a) const {
    int judged = 0;
    for (const auto& [k, n] : answers) judged += n;
    return judged == 0 ? 0 : static_cast<double>(answers.count(a) ? answers.at(a) : 0) / judged;
  }
};

TEST(FilterAgreementRandom, ConditionsAgreeOnEveryTextAndRow) {
  rng_t rng(0x51e7a001);
  condition_generator gen{rng};
  tally generated, damaged, deep;
  std::set<std::string> distinct;
  int deepest = 0;
  for (int i = 0; i < kConditions && !HasFailure(); ++i) {
    const std::string text = gen.text();
    distinct.insert(text);
    deepest = std::max(deepest, gen.deepest);
    std::vector<metric_row> rows;
    for (int r = 0; r < kRowsPerText; ++r) rows.push_back(random_metric_row(rng));
    std::vector<answer> a =
        expect_agreement<condition_pair>(text, rows, "condition " + std::to_string(i));
    (gen.deepest > 90 ? deep : generated).add(a);
    const std::string broken = damage(rng, text, kConditionDamage);
    damaged.add(
        expect_agreement<condition_pair>(broken, rows, "damaged condition " + std::to_string(i)));
  }
  // The generator's own variety: otherwise agreement could hold vacuously.
  EXPECT_GT(distinct.size(), static_cast<std::size_t>(kConditions * 9 / 10));
  std::printf(
      "conditions: %d generated (%d refused), %d damaged (%d refused), %d deep (%d "
      "refused); answers match %.2f, no match %.2f, unjudged %.2f\n",
      generated.texts, generated.refused, damaged.texts, damaged.refused, deep.texts, deep.refused,
      generated.share(answer::match), generated.share(answer::no_match),
      generated.share(answer::unjudged));
  EXPECT_GT(generated.texts - generated.refused, generated.texts * 6 / 10) << "mostly accepted";
  EXPECT_GT(generated.refused, 0) << "some run a keyword into a name";
  EXPECT_GT(damaged.refused, damaged.texts / 3);
  EXPECT_GT(damaged.texts - damaged.refused, damaged.texts / 10);
  for (answer a : {answer::match, answer::no_match, answer::unjudged})
    EXPECT_GT(generated.share(a), 0.1) << name_of(a);
  EXPECT_GT(deepest, 100);
  EXPECT_GT(deep.refused, 10) << "beyond the nesting limit";
  EXPECT_GT(deep.texts - deep.refused, 10) << "within the nesting limit";
}

TEST(FilterAgreementRandom, ConditionGeneratorVariesItsSpelling) {
  rng_t rng(0x51e7a002);
  condition_generator gen{rng};
  std::string all;
  for (int i = 0; i < 2000; ++i) all += gen.text() + "\x01";
  for (const char* seen : {" and",    " Or",  "nOT", " AND ", " OR ", "NOT ", "\t", "\n",
                           "\r\n",    ">=",   "<=",  "==",    "!=",   "=+",   ">+", ".0",
                           "3.",      "e0",   "E+0", "e-1",   "=.1",  "-.5",  "(",  ")",
                           "ANDROID", "NOTE", "ORx", "_x1",   "e+21"})
    EXPECT_NE(all.find(seen), std::string::npos) << "never generated: \"" << seen << "\"";
  EXPECT_NE(all.find("5AND"), std::string::npos) << "a blank is sometimes left out";
}

// ---- dimension filters ----

const std::vector<std::string> kDimensions = {"country", "cdn", "city", "assetid", "_d1"};
const std::vector<std::string> kValues = {
    "US", "Canada", "San Jose", "S\u00e3o Paulo", "123", "7.5", "a=b", "edge B", "x", "UK", "us"};

std::string space(rng_t& rng) {
  static const std::vector<std::string> kinds = {"", "", "", " ", "\t", "  "};
  return pick(rng, kinds);
}

std::string filter_text(rng_t& rng) {
  std::string out = space(rng);
  for (int g = uniform(rng, 0, 4); g > 0; --g) {
    out += "[" + space(rng) + pick(rng, kDimensions) + space(rng) + "=";
    for (int v = uniform(rng, 1, 3); v > 0; --v)
      out += space(rng) + pick(rng, kValues) + space(rng) + (v > 1 ? "|" : "");
    out += "]" + space(rng);
  }
  return out;
}

dimension_row random_dimension_row(rng_t& rng) {
  dimension_row row;
  for (const std::string& d : kDimensions) {
    if (chance(rng, 0.1)) continue;  // missing
    const int r = uniform(rng, 0, 9);
    std::string v = pick(rng, kValues);
    if (r == 7) v = " " + v;  // never equal to a trimmed value
    if (r == 8) v += "\t";
    if (r == 9) v = chance(rng, 0.5) ? "" : "y";
    row[d] = v;
  }
  return row;
}

const std::vector<std::string> kFilterDamage = {"[",  "]", "|", "=", " ",      "\t",
                                                "\n", "9", "x", "-", "\u00e9", "[a=1]"};

TEST(FilterAgreementRandom, DimensionFiltersAgreeOnEveryTextAndRow) {
  rng_t rng(0x51e7a003);
  tally generated, damaged;
  std::set<std::string> distinct;
  for (int i = 0; i < kFilters && !HasFailure(); ++i) {
    const std::string text = filter_text(rng);
    distinct.insert(text);
    std::vector<dimension_row> rows;
    for (int r = 0; r < kRowsPerText; ++r) rows.push_back(random_dimension_row(rng));
    generated.add(expect_agreement<filter_pair>(text, rows, "filter " + std::to_string(i)));
    const std::string broken = damage(rng, text, kFilterDamage);
    damaged.add(expect_agreement<filter_pair>(broken, rows, "damaged filter " + std::to_string(i)));
  }
  std::printf(
      "filters: %d generated (%d refused), %d damaged (%d refused); answers match "
      "%.2f, no match %.2f\n",
      generated.texts, generated.refused, damaged.texts, damaged.refused,
      generated.share(answer::match), generated.share(answer::no_match));
  EXPECT_GT(distinct.size(), static_cast<std::size_t>(kFilters * 8 / 10));
  EXPECT_EQ(generated.refused, 0) << "every generated filter is well-formed";
  EXPECT_GT(damaged.refused, damaged.texts / 3);
  EXPECT_GT(damaged.texts - damaged.refused, damaged.texts / 10);
  EXPECT_GT(generated.share(answer::match), 0.1);
  EXPECT_GT(generated.share(answer::no_match), 0.1);
  EXPECT_GT(damaged.share(answer::match), 0.05);
}

}  // namespace
