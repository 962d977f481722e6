// `chorus chat` / `chorus keys check` as a user runs them: the real program (bin/chorus) against
// the fake LLM server, keys and base URLs from the environment; checks stdout, the last line of
// stderr and the exit status.
#include <fake_llm.hpp>

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;

struct CliRun {
  int status = -1;
  std::string out;
  std::string err;
  std::string last_err_line() const {
    std::string s = err;
    while (!s.empty() && s.back() == '\n')
      s.pop_back();
    const auto nl = s.rfind('\n');
    return nl == std::string::npos ? s : s.substr(nl + 1);
  }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new chorus::test::FakeLlmServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  CliRun chorus(const std::string& args, const std::string& extra_env = "") {
    const fs::path bin = fs::path(CHORUS_BINARY_DIR) / "bin" / "chorus";
    if (!fs::exists(bin)) ADD_FAILURE() << "missing " << bin << ": build the chorus_cli target";
    const fs::path dir = fs::temp_directory_path();
    const std::string tag = std::to_string(::getpid()) + "_" + std::to_string(counter_++);
    const fs::path out = dir / ("chorus_cli_out_" + tag);
    const fs::path err = dir / ("chorus_cli_err_" + tag);
    const std::string base = server_->base_url();
    const std::string env =
        "env -u GOOGLE_API_KEY -u OPENAI_COMPATIBLE_BASE_URL OPENAI_BASE_URL=" + base +
        "/v1 ANTHROPIC_BASE_URL=" + base + " GEMINI_BASE_URL=" + base +
        " DEEPSEEK_BASE_URL=" + base +
        " OPENAI_API_KEY=test-key ANTHROPIC_API_KEY=test-key GEMINI_API_KEY=test-key "
        "DEEPSEEK_API_KEY=test-key " +
        extra_env + " ";
    const std::string cmd =
        env + bin.string() + " " + args + " > " + out.string() + " 2> " + err.string();
    CliRun r;
    const int raw = std::system(cmd.c_str());
    r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    fs::remove(out);
    fs::remove(err);
    return r;
  }

  static chorus::test::FakeLlmServer* server_;
  static inline int counter_ = 0;
};

chorus::test::FakeLlmServer* CliTest::server_ = nullptr;

TEST_F(CliTest, ChatStreamsEachVendorToStdout) {
  for (const char* p : {"openai", "anthropic", "gemini", "deepseek"}) {
    CliRun r = chorus(std::string("chat -p ") + p + " '[[reply:Hello from the fake server.]] hi'");
    EXPECT_EQ(r.status, 0) << p << ": " << r.err;
    EXPECT_EQ(r.out, "Hello from the fake server.") << p;  // exact text on a pipe
    EXPECT_NE(r.last_err_line().find("tokens:"), std::string::npos) << p << ": " << r.err;
    EXPECT_NE(r.last_err_line().find("cost: $"), std::string::npos) << p << ": " << r.err;
    EXPECT_NE(r.last_err_line().find("via " + std::string(p)), std::string::npos) << r.err;
  }
}

TEST_F(CliTest, ChatNoStreamAndJson) {
  CliRun r = chorus("chat -p openai -m gpt-4o-mini --no-stream '[[reply:Plain.]]'");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "Plain.");
  CliRun j =
      chorus("chat -p anthropic --json --system 'Be terse.' --max-tokens 50 '[[reply:JSON!]]'");
  EXPECT_EQ(j.status, 0) << j.err;
  EXPECT_NE(j.out.find("\"content\":\"JSON!\""), std::string::npos) << j.out;
  EXPECT_NE(j.out.find("\"provider\":\"anthropic\""), std::string::npos) << j.out;
  EXPECT_NE(j.out.find("\"error\":null"), std::string::npos) << j.out;
}

TEST_F(CliTest, ChatSimulatedWorksOffline) {
  CliRun r = chorus("chat -p simulated '[[reply:Offline answer]]'", "OPENAI_API_KEY=");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "Offline answer");
  EXPECT_NE(r.last_err_line().find("no network"), std::string::npos) << r.err;
}

TEST_F(CliTest, FailuresEndStderrWithKindAndExitCode) {
  CliRun rl = chorus("chat -p openai --retries 1 'x [[status:429]]'");
  EXPECT_EQ(rl.status, 10);
  EXPECT_EQ(rl.last_err_line().rfind("error: rate_limited: ", 0), 0u) << rl.err;

  CliRun auth = chorus("chat -p gemini hi", "GEMINI_API_KEY=invalid-key");
  EXPECT_EQ(auth.status, 11);
  EXPECT_EQ(auth.last_err_line().rfind("error: auth: ", 0), 0u) << auth.err;
  EXPECT_EQ(auth.err.find("invalid-key"), std::string::npos) << "the key must not be printed";

  CliRun quota = chorus("chat -p deepseek 'x [[status:402]]'");
  EXPECT_EQ(quota.status, 12);
  EXPECT_EQ(quota.last_err_line().rfind("error: quota_exceeded: ", 0), 0u) << quota.err;

  CliRun over = chorus("chat -p anthropic --retries 1 'x [[status:529]]'");
  EXPECT_EQ(over.status, 13);
  EXPECT_EQ(over.last_err_line().rfind("error: overloaded: ", 0), 0u) << over.err;

  CliRun mid = chorus("chat -p anthropic '[[lorem:20]] [[midstream-error]]'");
  EXPECT_EQ(mid.status, 13);
  EXPECT_FALSE(mid.out.empty()) << "text received before the failure stays on stdout";

  CliRun ctx = chorus("chat -p openai --max-tokens 999999 hi");
  EXPECT_EQ(ctx.status, 14);
  EXPECT_EQ(ctx.last_err_line().rfind("error: context_length: ", 0), 0u) << ctx.err;

  CliRun unknown = chorus("chat -p nope hi");
  EXPECT_EQ(unknown.status, 23);
  CliRun usage = chorus("chat --temperature hot hi");
  EXPECT_EQ(usage.status, 2);
  EXPECT_EQ(usage.last_err_line().rfind("error: invalid_argument: --temperature", 0), 0u)
      << usage.err;
}

TEST_F(CliTest, KeysCheck) {
  CliRun ok = chorus("keys check");
  EXPECT_EQ(ok.status, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("openai             ok"), std::string::npos) << ok.out;
  CliRun bad = chorus("keys check", "ANTHROPIC_API_KEY=invalid-abc");
  EXPECT_EQ(bad.status, 11) << bad.out << bad.err;
  EXPECT_NE(bad.out.find("anthropic          FAILED"), std::string::npos) << bad.out;
  EXPECT_EQ(bad.last_err_line().rfind("error: auth: ", 0), 0u) << bad.err;
}

TEST_F(CliTest, ModelsListsPricesAndSimulated) {
  CliRun r = chorus("models");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("gpt-4o-mini"), std::string::npos);
  EXPECT_NE(r.out.find("0.150"), std::string::npos);
  EXPECT_NE(r.out.find("sim-fast"), std::string::npos);
  EXPECT_NE(r.out.find("simulated"), std::string::npos);
  CliRun j = chorus("models --json");
  EXPECT_NE(j.out.find("\"contextWindow\":128000"), std::string::npos) << j.out;
}

}  // namespace
