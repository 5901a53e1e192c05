#include "text/template.hpp"

#include "text/join.hpp"

namespace qoewatch::text {

namespace {

// {{name}} filling, shared by fill_template and check_template; `known` names the variables
// in error texts.
std::string fill(std::string_view tmpl, const std::map<std::string, std::string>& vars,
                 const std::vector<std::string>& known, std::string* error) {
  std::string out;
  std::size_t pos = 0;
  auto fail = [&](std::string why) {
    if (error != nullptr) {
      *error = std::move(why);
      return true;
    }
    return false;
  };
  while (pos < tmpl.size()) {
    std::size_t open = tmpl.find("{{", pos);
    if (open == std::string_view::npos) break;
    out.append(tmpl.substr(pos, open - pos));
    std::size_t close = tmpl.find("}}", open + 2);
    if (close == std::string_view::npos) {
      if (fail("unterminated placeholder {{ at column " + std::to_string(open + 1) +
               " (close it with }})"))
        return {};
      out.append(tmpl.substr(open));
      return out;
    }
    std::string_view name = tmpl.substr(open + 2, close - open - 2);
    while (!name.empty() && (name.front() == ' ' || name.front() == '\t')) name.remove_prefix(1);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    auto it = vars.find(std::string(name));
    if (it == vars.end()) {
      if (fail("unknown placeholder {{" + std::string(name) + "}} (known: " + join(known, ", ") +
               ")"))
        return {};
      out.append(tmpl.substr(open, close + 2 - open));
    } else {
      out += it->second;
    }
    pos = close + 2;
  }
  if (pos < tmpl.size()) out.append(tmpl.substr(pos));
  if (error != nullptr) error->clear();
  return out;
}

}  // namespace

const std::vector<std::string>& template_variables() {
  static const std::vector<std::string> names = {
      "rule",       "description", "severity",  "status",   "count",
      "offending",  "metric",      "condition", "incident", "window_start",
      "window_end", "customer_id", "receiver"};
  return names;
}

std::string fill_template(std::string_view tmpl, const std::map<std::string, std::string>& vars,
                          std::string* error) {
  std::vector<std::string> known;
  for (const auto& [k, unused] : vars) known.push_back(k);
  return fill(tmpl, vars, known, error);
}

std::string check_template(std::string_view tmpl) {
  std::map<std::string, std::string> vars;
  for (const std::string& n : template_variables()) vars[n] = "";
  std::string error;
  fill(tmpl, vars, template_variables(), &error);
  return error;
}

}  // namespace qoewatch::text
