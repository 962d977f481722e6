// The shipped workflows (examples/workflows/*.json): each one re-serialises to the same bytes,
// validates cleanly against the simulated provider, and carries its template-library metadata.
#include <chorus/workflow.hpp>

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace chorus {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> example_files() {
  std::vector<fs::path> files;
  for (const auto& entry :
       fs::directory_iterator(fs::path(CHORUS_SOURCE_DIR) / "examples/workflows")) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ValidationContext simulated_only() {
  ValidationContext ctx;
  ctx.providers["simulated"] = {"sim-fast", "sim-smart"};
  return ctx;
}

TEST(Examples, AtLeastSixShipped) {
  EXPECT_GE(example_files().size(), 6u);
}

TEST(Examples, ByteExactRoundTrip) {
  for (const auto& file : example_files()) {
    SCOPED_TRACE(file.filename().string());
    const std::string text = read(file);
    auto r = Workflow::parse(text);
    ASSERT_TRUE(r.workflow);
    // The files are written in the canonical indented form: parse + print gives the same bytes.
    EXPECT_EQ(r.workflow->to_string(true) + "\n", text);
    EXPECT_EQ(boost::json::serialize(r.workflow->to_json()),
              boost::json::serialize(boost::json::parse(text)));
  }
}

TEST(Examples, ValidateCleanlyOnSimulated) {
  for (const auto& file : example_files()) {
    SCOPED_TRACE(file.filename().string());
    auto r = Workflow::parse(read(file));
    ASSERT_TRUE(r.workflow);
    for (const auto& p : validate(*r.workflow, simulated_only()))
      ADD_FAILURE() << p.describe();
    // And a provider the examples do not use is reported, naming each llm node.
    ValidationContext other;
    other.providers["openai"] = {};
    bool any_unknown = false;
    for (const auto& p : validate(*r.workflow, other))
      any_unknown |= p.code == "unknown_provider";
    EXPECT_TRUE(any_unknown);
  }
}

TEST(Examples, TemplateLibraryMetadata) {
  std::set<std::string> ids;
  for (const auto& file : example_files()) {
    SCOPED_TRACE(file.filename().string());
    const auto doc = boost::json::parse(read(file)).as_object();
    ASSERT_TRUE(doc.contains("id") && doc.at("id").is_string());
    EXPECT_EQ(std::string(doc.at("id").as_string()) + ".json", file.filename().string());
    EXPECT_TRUE(ids.insert(std::string(doc.at("id").as_string())).second);
    for (const char* key : {"name", "description", "category"}) {
      ASSERT_TRUE(doc.contains(key) && doc.at(key).is_string()) << key;
      EXPECT_FALSE(doc.at(key).as_string().empty()) << key;
    }
    ASSERT_TRUE(doc.contains("tags") && doc.at("tags").is_array());
    EXPECT_GE(doc.at("tags").as_array().size(), 2u);
  }
}

TEST(Examples, EveryNodeKindIsShown) {
  std::set<NodeKind> kinds;
  std::size_t llm_nodes = 0;
  for (const auto& file : example_files()) {
    auto r = Workflow::parse(read(file));
    ASSERT_TRUE(r.workflow);
    for (const auto& n : r.workflow->nodes()) {
      kinds.insert(n.kind);
      llm_nodes += n.kind == NodeKind::llm;
    }
  }
  for (NodeKind k : {NodeKind::input, NodeKind::output, NodeKind::llm, NodeKind::transform,
                     NodeKind::router, NodeKind::merge, NodeKind::loop, NodeKind::map}) {
    EXPECT_TRUE(kinds.count(k)) << to_string(k);
  }
  EXPECT_GE(llm_nodes, 12u);  // multi-agent: several model calls per workflow
}

// A document full of editor fields, written in the canonical indented form, comes back byte for
// byte: unknown keys at every level, their order, nulls and number spellings.
TEST(Examples, EditorDocumentByteExact) {
  const std::string text = R"({
  "viewport": {
    "x": -12.5,
    "y": 40,
    "zoom": 1.25
  },
  "id": "editor",
  "nodes": [
    {
      "type": "input",
      "id": "in",
      "selected": true,
      "position": {
        "y": 0.0,
        "x": 1e-05
      },
      "measured": {
        "width": 150,
        "height": null
      },
      "data": {
        "label": "Question",
        "defaultValue": "hello"
      }
    },
    {
      "id": "out",
      "type": "output",
      "position": {
        "x": 300,
        "y": 1e+16
      },
      "data": {
        "template": "Answer: {{input}} \\{{literal}}",
        "ui": {
          "collapsed": false,
          "list": [
            [],
            {},
            "é ✓"
          ]
        }
      },
      "zIndex": 1000
    }
  ],
  "edges": [
    {
      "target": "out",
      "source": "in",
      "id": "e1",
      "sourceHandle": null,
      "animated": true,
      "markerEnd": {
        "type": "arrowclosed"
      }
    }
  ],
  "x-custom": [
    1,
    2.5,
    -3
  ]
}
)";
  auto r = Workflow::parse(text);
  ASSERT_TRUE(r.workflow);
  EXPECT_EQ(r.workflow->to_string(true) + "\n", text);
  EXPECT_EQ(r.workflow->nodes()[1].data_as<OutputData>()->output_template->source(),
            "Answer: {{input}} \\{{literal}}");
  EXPECT_FALSE(has_errors(validate(*r.workflow)));
}

}  // namespace
}  // namespace chorus

namespace chorus {
namespace {

// Bad input never crashes: every shipped workflow, mutated at random places (values replaced by
// other types, keys removed), still parses or fails with problems, and validates.
TEST(Examples, RandomMutationsNeverCrash) {
  std::uint64_t state = 0x9E3779B97F4A7C15ULL;
  auto next = [&]() {  // xorshift64*: deterministic across runs and machines
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1DULL;
  };
  const std::vector<boost::json::value> replacements{nullptr,
                                                     0,
                                                     -1,
                                                     1e308,
                                                     "",
                                                     "{{",
                                                     "{{nodes.x.output}}",
                                                     "x",
                                                     true,
                                                     boost::json::array{},
                                                     boost::json::object{},
                                                     boost::json::array{1, "a"}};
  std::size_t parsed = 0, total = 0;
  for (const auto& file : example_files()) {
    const boost::json::value original = boost::json::parse(read(file));
    for (int round = 0; round < 150; ++round) {
      boost::json::value doc = original;
      for (int m = 0; m < 3; ++m) {
        // Walk down to a random container, then change one of its entries.
        boost::json::value* v = &doc;
        for (int depth = 0; depth < 6; ++depth) {
          boost::json::value* child = nullptr;
          if (auto* o = v->if_object(); o && !o->empty()) {
            auto it = o->begin() + static_cast<std::ptrdiff_t>(next() % o->size());
            child = &it->value();
          } else if (auto* a = v->if_array(); a && !a->empty()) {
            child = &(*a)[next() % a->size()];
          }
          if (!child || (!child->is_object() && !child->is_array()) || next() % 3 == 0) {
            if (child) {
              if (next() % 4 == 0 && v->is_object()) {
                auto& o = v->as_object();
                o.erase(o.begin() + static_cast<std::ptrdiff_t>(next() % o.size()));
              } else {
                *child = replacements[next() % replacements.size()];
              }
            }
            break;
          }
          v = child;
        }
      }
      ++total;
      auto r = Workflow::from_json(doc);
      if (!r.workflow) {
        EXPECT_FALSE(r.problems.empty());
        continue;
      }
      ++parsed;
      const auto problems = validate(*r.workflow);
      for (const auto& p : problems)
        EXPECT_FALSE(p.message.empty());
      EXPECT_EQ(boost::json::serialize(r.workflow->to_json()), boost::json::serialize(doc));
    }
  }
  EXPECT_GT(parsed, total / 2);
}

TEST(Examples, RandomTemplatesNeverCrash) {
  std::uint64_t state = 42;
  const std::string_view alphabet = "{}\\. abnodesinputjsoutem[]0\"'";
  for (int i = 0; i < 20000; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    std::string text;
    const std::size_t len = (state >> 33) % 24;
    for (std::size_t k = 0; k < len; ++k) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      text.push_back(alphabet[(state >> 33) % alphabet.size()]);
    }
    std::string error;
    std::size_t offset = 0;
    auto t = parse_template(text, error, &offset);
    if (!t) {
      EXPECT_FALSE(error.empty()) << text;
      EXPECT_LE(offset, text.size());
      continue;
    }
    std::string out;
    render_template(
        *t, [](const TemplateRef&) { return std::optional<std::string_view>("{\"a\":[1]}"); }, out);
  }
}

}  // namespace
}  // namespace chorus
