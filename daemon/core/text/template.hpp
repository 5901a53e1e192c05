// Summary templates: "{{rule}}: {{count}} sessions" filled from named values. The variable
// names are shared vocabulary: config checks a sink's template against them when it loads,
// notify fills them when it renders. Pure code; a bad template is an error text, never an
// exception.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace qoewatch::text {

/// The variables a summary template may use, e.g. {{rule}}, {{count}}.
const std::vector<std::string>& template_variables();

/// Fills {{name}} placeholders (spaces inside the braces allowed) from `vars`. Returns the
/// error text for an unknown or unterminated placeholder instead when `error` is given.
std::string fill_template(std::string_view tmpl, const std::map<std::string, std::string>& vars,
                          std::string* error = nullptr);

/// Checks a template against template_variables(); empty when valid, else why not.
std::string check_template(std::string_view tmpl);

}  // namespace qoewatch::text
