#include "registry/bundle_extractor.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

namespace kiln {
namespace {

namespace fs = std::filesystem;

la_ssize_t Append(archive*, void* out, const void* data, size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(data), n);
  return static_cast<la_ssize_t>(n);
}

// Builds a tar.gz in memory; each entry is set up by the callback.
struct Entry {
  std::string path;
  mode_t type = AE_IFREG;
  std::string content;
  std::string link;
  bool hardlink = false;
};

std::string TarGz(const std::vector<Entry>& entries) {
  std::string out;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_add_filter_gzip(a);
  archive_write_open(a, &out, nullptr, Append, nullptr);
  for (const auto& e : entries) {
    archive_entry* ae = archive_entry_new();
    archive_entry_set_pathname(ae, e.path.c_str());
    archive_entry_set_filetype(ae, e.type);
    archive_entry_set_perm(ae, 0644);
    if (e.hardlink) archive_entry_set_hardlink(ae, e.link.c_str());
    else if (e.type == AE_IFLNK) archive_entry_set_symlink(ae, e.link.c_str());
    archive_entry_set_size(ae, static_cast<la_int64_t>(e.content.size()));
    archive_write_header(a, ae);
    if (!e.content.empty()) archive_write_data(a, e.content.data(), e.content.size());
    archive_entry_free(ae);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

class BundleExtractorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("kiln-extract-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  Result<ExtractStats> Extract(const std::string& bytes, ExtractLimits limits = {}) {
    return ExtractBundle(bytes, (root_ / "bundle").string(), limits);
  }
  void ExpectRefused(const std::vector<Entry>& entries, const std::string& fragment) {
    auto r = Extract(TarGz(entries));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
    EXPECT_FALSE(fs::exists(root_ / "bundle")) << "partial bundle left behind";
    EXPECT_FALSE(fs::exists(root_ / "evil"));
  }

  fs::path root_;
};

TEST_F(BundleExtractorTest, ExtractsFilesFoldersAndInnerSymlinks) {
  auto r = Extract(TarGz({{"handler.py", AE_IFREG, "def handler(e, c): return 1\n"},
                          {"models", AE_IFDIR},
                          {"models/m.onnx", AE_IFREG, "bytes"},
                          {"current.onnx", AE_IFLNK, "", "models/m.onnx"}}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->files, 4);
  EXPECT_TRUE(fs::exists(root_ / "bundle/handler.py"));
  EXPECT_TRUE(fs::is_symlink(root_ / "bundle/current.onnx"));
}

TEST_F(BundleExtractorTest, RefusesAbsolutePaths) { ExpectRefused({{"/etc/evil", AE_IFREG, "x"}}, "absolute"); }

TEST_F(BundleExtractorTest, RefusesDotDot) { ExpectRefused({{"../evil", AE_IFREG, "x"}}, ".."); }

TEST_F(BundleExtractorTest, RefusesSymlinksLeavingTheBundle) {
  ExpectRefused({{"a", AE_IFLNK, "", "../../etc/passwd"}}, "symlink");
  ExpectRefused({{"a", AE_IFLNK, "", "/etc/passwd"}}, "symlink");
  ExpectRefused({{"d/a", AE_IFLNK, "", "../../x"}}, "symlink");
}

// Found by fuzz/bundle_extract_fuzz: "s" -> "." is one level up from where a
// lexical count puts it, so "t" -> "s/.." pointed at the bundle's parent.
TEST_F(BundleExtractorTest, RefusesSymlinksClimbingThroughAnotherLink) {
  ExpectRefused({{"s", AE_IFLNK, "", "."}, {"t", AE_IFLNK, "", "s/.."}}, "symlink");
  ExpectRefused({{"d", AE_IFDIR}, {"d/s", AE_IFLNK, "", "."}, {"d/t", AE_IFLNK, "", "s/../.."}}, "symlink");
  EXPECT_FALSE(SymlinkStaysInside("t", "s/.."));
  EXPECT_TRUE(SymlinkStaysInside("a/b/link", "../../c/d"));
}

// Found by fuzz/bundle_extract_fuzz: a zip entry of an unknown compression method
// fails with no libarchive message, and building the error from its null crashed.
TEST_F(BundleExtractorTest, RefusesAZipLibarchiveHasNoMessageFor) {
  const std::string zip(
      "\x50\x4b\x03\x04\x14\x00\x5d\xb4\x25\xc2\xd6\xee\x13\x6c\x1b"
      "\x8a\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 30);
  auto r = Extract(zip);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("corrupt"), std::string::npos) << r.status().message();
  EXPECT_FALSE(fs::exists(root_ / "bundle"));
}

TEST_F(BundleExtractorTest, RefusesHardLinksAndDevices) {
  ExpectRefused({{"f", AE_IFREG, "x"}, {"g", AE_IFREG, "", "f", true}}, "hard link");
  ExpectRefused({{"dev", AE_IFCHR}}, "only files");
  ExpectRefused({{"fifo", AE_IFIFO}}, "only files");
}

TEST_F(BundleExtractorTest, EnforcesCaps) {
  ExtractLimits small{.max_bytes = 10, .max_files = 2};
  auto big = Extract(TarGz({{"f", AE_IFREG, std::string(11, 'x')}}), small);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("size cap"), std::string::npos);
  auto many = Extract(TarGz({{"a", AE_IFREG, "1"}, {"b", AE_IFREG, "2"}, {"c", AE_IFREG, "3"}}), small);
  ASSERT_FALSE(many.ok());
  EXPECT_NE(many.status().message().find("file-count"), std::string::npos);
}

TEST_F(BundleExtractorTest, RefusesGarbage) {
  auto r = Extract("this is not an archive");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

TEST(BundlePaths, LexicalChecks) {
  EXPECT_TRUE(IsSafeRelativePath("a/b.py"));
  EXPECT_TRUE(IsSafeRelativePath("./a"));
  EXPECT_FALSE(IsSafeRelativePath("a/../../b"));
  EXPECT_FALSE(IsSafeRelativePath("/a"));
  EXPECT_TRUE(SymlinkStaysInside("a/link", "../b"));
  EXPECT_FALSE(SymlinkStaysInside("link", "../b"));
  EXPECT_FALSE(SymlinkStaysInside("a/link", "/b"));
}

}  // namespace
}  // namespace kiln
