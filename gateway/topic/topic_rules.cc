// Topic rules: parsing (yaml-cpp), lookup and reload.
#include "topic/topic_rules.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "auth/topic_pattern.h"

namespace herald {
namespace {

constexpr absl::string_view kKeys[] = {"pattern",    "history_size",   "history_ttl",
                                      "presence",   "join_leave",     "client_publish",
                                      "max_subscribers"};

// Where a problem is: `file:line: `, with yaml-cpp's 0-based line.
std::string At(absl::string_view file_name, const YAML::Mark& mark) {
  return absl::StrCat(file_name, ":", mark.line + 1, ": ");
}

absl::Status Invalid(absl::string_view file_name, const YAML::Node& node, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(At(file_name, node.Mark()), why));
}

// One rule's options, each read from its scalar with a reason when it is not what it must be.
class RuleReader {
 public:
  RuleReader(absl::string_view file_name, TopicRule& rule) : file_name_(file_name), rule_(rule) {}

  absl::Status Read(const std::string& key, const YAML::Node& value) {
    if (!value.IsScalar()) return Bad(value, key, "a single value");
    const std::string& text = value.Scalar();
    if (key == "pattern") {
      if (absl::Status valid = ValidateTopicPattern(text); !valid.ok()) {
        return Invalid(file_name_, value, valid.message());
      }
      rule_.pattern = text;
    } else if (key == "history_size") {
      if (!absl::SimpleAtoi(text, &rule_.history_size) || text.starts_with('-')) {
        return Bad(value, key, "a number of events (0 keeps none)");
      }
      if (rule_.history_size > kMaxHistorySize) {
        return Invalid(file_name_, value, absl::StrCat("history_size: at most ", kMaxHistorySize));
      }
    } else if (key == "history_ttl") {
      if (!absl::ParseDuration(text, &rule_.history_ttl) ||
          rule_.history_ttl <= absl::ZeroDuration() || rule_.history_ttl == absl::InfiniteDuration()) {
        return Bad(value, key, "a duration such as 90s, 10m or 24h");
      }
    } else if (key == "presence" || key == "join_leave") {
      bool& option = key == "presence" ? rule_.presence : rule_.join_leave;
      if (text != "true" && text != "false") return Bad(value, key, "true or false");
      option = text == "true";
    } else if (key == "client_publish") {
      if (text == "true") {
        rule_.client_publish = ClientPublish::kAllowed;
      } else if (text == "false") {
        rule_.client_publish = ClientPublish::kRefused;
      } else if (text == "proxy") {
        return Invalid(file_name_, value,
                       "client_publish: proxy asks the app's Authorizer, which this gateway "
                       "does not have yet; use true or false");
      } else {
        return Bad(value, key, "true, false or proxy");
      }
    } else if (key == "max_subscribers") {
      if (!absl::SimpleAtoi(text, &rule_.max_subscribers) || text.starts_with('-')) {
        return Bad(value, key, "a number of subscribers (0: no cap)");
      }
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Bad(const YAML::Node& value, absl::string_view key, absl::string_view expected) {
    std::string shown = value.IsScalar() ? absl::StrCat("'", value.Scalar(), "'")
                        : value.IsNull()   ? "an empty value"
                                           : "a list or map";
    return Invalid(file_name_, value, absl::StrCat(key, ": ", shown, " is not ", expected));
  }

  absl::string_view file_name_;
  TopicRule& rule_;
};

absl::StatusOr<TopicRule> ParseRule(const YAML::Node& node, absl::string_view file_name,
                                    const TopicRule& defaults) {
  if (!node.IsMap()) {
    return Invalid(file_name, node, "each rule is a mapping such as {pattern: 'chat.>', history_size: 500}");
  }
  TopicRule rule = defaults;
  rule.pattern.clear();
  rule.line = node.Mark().line + 1;
  RuleReader reader(file_name, rule);
  for (const auto& entry : node) {
    const std::string key = entry.first.Scalar();
    if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys)) {
      return Invalid(file_name, entry.first,
                     absl::StrCat("unknown key '", key, "' (known: ", absl::StrJoin(kKeys, ", "), ")"));
    }
    if (absl::Status read = reader.Read(key, entry.second); !read.ok()) return read;
  }
  if (rule.pattern.empty()) return Invalid(file_name, node, "a rule without a pattern");
  return rule;
}

absl::StatusOr<TopicRules> ParseRules(absl::string_view text, absl::string_view file_name,
                                      const TopicRule& defaults) {
  YAML::Node document;
  try {
    document = YAML::Load(std::string(text));
  } catch (const YAML::Exception& error) {
    return absl::InvalidArgumentError(absl::StrCat(At(file_name, error.mark), error.msg));
  }
  if (document.IsNull()) return TopicRules(defaults);  // An empty file: no rules.
  if (!document.IsSequence()) {
    return Invalid(file_name, document, "the file is a list of rules (- pattern: ...)");
  }
  std::vector<TopicRule> parsed;
  for (const YAML::Node& node : document) {
    absl::StatusOr<TopicRule> rule = ParseRule(node, file_name, defaults);
    if (!rule.ok()) return rule.status();
    parsed.push_back(*std::move(rule));
  }
  return TopicRules(std::move(parsed), defaults);
}

}  // namespace

std::string TopicRule::Describe() const {
  std::string text = absl::StrCat(pattern.empty() ? "(other topics)" : pattern,
                                  " history_size=", history_size,
                                  " history_ttl=", absl::FormatDuration(history_ttl));
  if (presence) absl::StrAppend(&text, " presence");
  if (join_leave) absl::StrAppend(&text, " join_leave");
  if (client_publish == ClientPublish::kRefused) absl::StrAppend(&text, " client_publish=false");
  if (client_publish == ClientPublish::kProxy) absl::StrAppend(&text, " client_publish=proxy");
  if (max_subscribers != 0) absl::StrAppend(&text, " max_subscribers=", max_subscribers);
  return text;
}

absl::StatusOr<TopicRules> TopicRules::Parse(absl::string_view text, absl::string_view file_name,
                                             const TopicRule& defaults) {
  return ParseRules(text, file_name, defaults);
}

absl::StatusOr<TopicRules> TopicRules::Load(const std::string& path, const TopicRule& defaults) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read ", path, ": not a file"));
  }
  std::ifstream file(path);
  if (!file) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << file.rdbuf();
  return Parse(text.str(), path, defaults);
}

const TopicRule& TopicRules::For(absl::string_view topic) const {
  for (const TopicRule& rule : rules_) {
    if (TopicPatternMatches(rule.pattern, topic)) return rule;
  }
  return defaults_;
}

std::string TopicRules::Describe() const {
  std::string text = absl::StrCat("topic rules (", rules_.size(), ", first match wins):");
  for (const TopicRule& rule : rules_) absl::StrAppend(&text, "\n  ", rule.Describe());
  absl::StrAppend(&text, "\n  ", defaults_.Describe());
  return text;
}

TopicRulesStore::TopicRulesStore(std::string path, TopicRule defaults)
    : path_(std::move(path)),
      defaults_(std::move(defaults)),
      current_(std::make_shared<const TopicRules>(defaults_)) {}

absl::Status TopicRulesStore::Load() {
  if (path_.empty()) return absl::OkStatus();
  absl::StatusOr<TopicRules> rules = TopicRules::Load(path_, defaults_);
  if (!rules.ok()) return rules.status();
  auto loaded = std::make_shared<const TopicRules>(*std::move(rules));
  absl::MutexLock lock(&mutex_);
  current_ = std::move(loaded);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  return absl::OkStatus();
}

std::shared_ptr<const TopicRules> TopicRulesStore::current(uint64_t* generation) const {
  absl::MutexLock lock(&mutex_);
  if (generation != nullptr) *generation = generation_.load(std::memory_order_relaxed);
  return current_;
}

std::shared_ptr<const TopicRulesStore> RulesOrDefaults(std::shared_ptr<const TopicRulesStore> rules,
                                                       size_t history_size,
                                                       absl::Duration history_ttl) {
  if (rules) return rules;
  TopicRule defaults;
  defaults.history_size = history_size;
  defaults.history_ttl = history_ttl;
  return std::make_shared<const TopicRulesStore>("", std::move(defaults));
}

}  // namespace herald
