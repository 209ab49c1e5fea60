// Topic rules: the file's grammar, first match wins, defaults from the flags, errors with their
// line, and a reload that keeps the rules in force when the new file is wrong.
#include "topic/topic_rules.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace herald {
namespace {

TopicRule Defaults() {
  TopicRule defaults;
  defaults.history_size = 1000;
  defaults.history_ttl = absl::Minutes(10);
  return defaults;
}

absl::StatusOr<TopicRules> Parse(absl::string_view text) {
  return TopicRules::Parse(text, "rules.yaml", Defaults());
}

TEST(TopicRules, FirstMatchWinsAndUnnamedOptionsKeepTheFlags) {
  absl::StatusOr<TopicRules> rules = Parse(R"(
- pattern: ticker.>
  history_size: 1
  history_ttl: 1h
- pattern: "chat.*"
  history_size: 500
  presence: false
  join_leave: false
  client_publish: true
  max_subscribers: 3
- pattern: chat.>
  client_publish: false
  presence: true
)");
  ASSERT_TRUE(rules.ok()) << rules.status();
  ASSERT_EQ(rules->rules().size(), 3u);
  const TopicRule& ticker = rules->For("ticker.eurusd");
  EXPECT_EQ(ticker.history_size, 1u);
  EXPECT_EQ(ticker.history_ttl, absl::Hours(1));
  EXPECT_FALSE(ticker.presence);
  EXPECT_EQ(ticker.line, 2);

  const TopicRule& lobby = rules->For("chat.lobby");
  EXPECT_EQ(lobby.pattern, "chat.*");
  EXPECT_EQ(lobby.history_size, 500u);
  EXPECT_EQ(lobby.history_ttl, absl::Minutes(10));  // Not named: the flag's value.
  EXPECT_FALSE(lobby.presence || lobby.join_leave);
  EXPECT_EQ(lobby.max_subscribers, 3u);
  EXPECT_EQ(lobby.client_publish, ClientPublish::kAllowed);

  const TopicRule& typing = rules->For("chat.lobby.typing");
  EXPECT_EQ(typing.pattern, "chat.>");
  EXPECT_TRUE(typing.presence);
  EXPECT_EQ(typing.client_publish, ClientPublish::kRefused);
  EXPECT_EQ(typing.history_size, 1000u);

  const TopicRule& other = rules->For("orders.new");
  EXPECT_TRUE(other.pattern.empty());
  EXPECT_EQ(other.history_size, 1000u);

  EXPECT_EQ(rules->Describe(),
            "topic rules (3, first match wins):\n"
            "  ticker.> history_size=1 history_ttl=1h\n"
            "  chat.* history_size=500 history_ttl=10m max_subscribers=3\n"
            "  chat.> history_size=1000 history_ttl=10m presence client_publish=false\n"
            "  (other topics) history_size=1000 history_ttl=10m");
}

TEST(TopicRules, JsonIsYamlTooAndAnEmptyFileHasNoRules) {
  absl::StatusOr<TopicRules> rules =
      Parse(R"([{"pattern": "a.>", "history_size": 0, "history_ttl": "90s"}])");
  ASSERT_TRUE(rules.ok()) << rules.status();
  EXPECT_EQ(rules->For("a.b").history_size, 0u);
  EXPECT_EQ(rules->For("a.b").history_ttl, absl::Seconds(90));

  absl::StatusOr<TopicRules> empty = Parse("# nothing yet\n");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->rules().empty());
}

TEST(TopicRules, AMistakeIsRefusedWithItsLineAndReason) {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"- pattern: chat.>\n  histroy_size: 5\n",
       "rules.yaml:2: unknown key 'histroy_size' (known: pattern, history_size, history_ttl, "
       "presence, join_leave, client_publish, max_subscribers)"},
      {"- pattern: chat.>\n- history_size: 5\n", "rules.yaml:2: a rule without a pattern"},
      {"- pattern: chat..x\n", "rules.yaml:1: bad topic pattern 'chat..x': an empty segment"},
      {"- pattern: a.>.b\n", "rules.yaml:1: bad topic pattern 'a.>.b': '>' may only be the last segment"},
      {"- pattern: a.b c\n", "rules.yaml:1: bad topic pattern 'a.b c': topic may only contain letters, digits and _ - : @ = ."},
      {"- pattern: a\n  history_size: -1\n", "rules.yaml:2: history_size: '-1' is not a number of events (0 keeps none)"},
      {"- pattern: a\n  history_size: lots\n", "rules.yaml:2: history_size: 'lots' is not a number of events (0 keeps none)"},
      {"- pattern: a\n  history_ttl: 10\n", "rules.yaml:2: history_ttl: '10' is not a duration such as 90s, 10m or 24h"},
      {"- pattern: a\n  history_ttl: 0s\n", "rules.yaml:2: history_ttl: '0s' is not a duration such as 90s, 10m or 24h"},
      {"- pattern: a\n  presence: yes\n", "rules.yaml:2: presence: 'yes' is not true or false"},
      {"- pattern: a\n  client_publish: maybe\n", "rules.yaml:2: client_publish: 'maybe' is not true, false or proxy"},
      {"- pattern: a\n  max_subscribers: [1]\n", "rules.yaml:2: max_subscribers: a list or map is not a single value"},
      {"pattern: a\n", "rules.yaml:1: the file is a list of rules (- pattern: ...)"},
      {"- a.>\n", "rules.yaml:1: each rule is a mapping such as {pattern: 'chat.>', history_size: 500}"},
      {"- pattern: [a\n", "rules.yaml:2: end of sequence flow not found"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<TopicRules> rules = Parse(c.text);
    ASSERT_FALSE(rules.ok()) << c.text;
    EXPECT_EQ(rules.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(rules.status().message()), std::string(c.error)) << c.text;
  }
  absl::StatusOr<TopicRules> proxy = Parse("- pattern: a\n  client_publish: proxy\n");
  ASSERT_FALSE(proxy.ok());
  EXPECT_TRUE(absl::StrContains(proxy.status().message(), "Authorizer")) << proxy.status();
}

TEST(TopicRules, AReloadKeepsTheRulesInForceWhenTheFileIsWrong) {
  char pattern[] = "/tmp/herald-rules-XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  std::string path = absl::StrCat(pattern, "/rules.yaml");
  std::ofstream(path) << "- pattern: a.>\n  history_size: 7\n";
  TopicRulesStore store(path, Defaults());
  EXPECT_EQ(store.current()->For("a.b").history_size, 1000u);  // Not loaded yet.
  uint64_t before = store.generation();
  ASSERT_TRUE(store.Load().ok());
  uint64_t loaded_generation = 0;
  EXPECT_EQ(store.current(&loaded_generation)->For("a.b").history_size, 7u);
  EXPECT_GT(loaded_generation, before);
  EXPECT_EQ(loaded_generation, store.generation());

  std::ofstream(path) << "- pattern: a.>\n  history_size: seven\n";
  absl::Status reload = store.Load();
  EXPECT_EQ(reload.message(), absl::StrCat(path, ":2: history_size: 'seven' is not a number of events (0 keeps none)"));
  EXPECT_EQ(store.current()->For("a.b").history_size, 7u);
  EXPECT_EQ(store.generation(), loaded_generation);

  std::ofstream(path) << "- pattern: a.>\n  history_size: 8\n";
  ASSERT_TRUE(store.Load().ok());
  EXPECT_EQ(store.current()->For("a.b").history_size, 8u);
  std::system(absl::StrCat("rm -rf ", pattern).c_str());
}

}  // namespace
}  // namespace herald
