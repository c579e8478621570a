#include "src/crypto/xts.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace vhdcrypt {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes FromHex(const std::string& hex) {
  Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  return out;
}

std::string ToHex(std::span<const uint8_t> bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

Bytes RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

// 00 01 .. ff 00 01 .. ff: the plaintext of most 512-byte IEEE vectors.
Bytes Pattern512() {
  Bytes out(512);
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(i);
  return out;
}

// One XTS data unit straight through EVP, written apart from XtsCipher so the
// two can be compared: tweak = 64-bit little-endian unit number, then zeros.
Bytes EvpXts(const Bytes& key, uint64_t tweak, const Bytes& in, bool encrypt) {
  const EVP_CIPHER* cipher = key.size() == 64 ? EVP_aes_256_xts() : EVP_aes_128_xts();
  uint8_t iv[16] = {};
  for (int i = 0; i < 8; ++i) iv[i] = static_cast<uint8_t>(tweak >> (8 * i));
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  Bytes out(in.size());
  int n = 0;
  EXPECT_EQ(EVP_CipherInit_ex2(ctx, cipher, key.data(), iv, encrypt ? 1 : 0, nullptr), 1);
  EXPECT_EQ(EVP_CipherUpdate(ctx, out.data(), &n, in.data(), static_cast<int>(in.size())), 1);
  EXPECT_EQ(static_cast<size_t>(n), in.size());
  EVP_CIPHER_CTX_free(ctx);
  return out;
}

// IEEE Std 1619-2007 Annex B, XTS-AES ciphertexts of 512-byte data units
// (also in Botan's src/tests/data/modes/xts.vec).
constexpr char kVector4Ct[] =
    "27a7479befa1d476489f308cd4cfa6e2a96e4bbe3208ff25287dd3819616e89c"
    "c78cf7f5e543445f8333d8fa7f56000005279fa5d8b5e4ad40e736ddb4d35412"
    "328063fd2aab53e5ea1e0a9f332500a5df9487d07a5c92cc512c8866c7e860ce"
    "93fdf166a24912b422976146ae20ce846bb7dc9ba94a767aaef20c0d61ad0265"
    "5ea92dc4c4e41a8952c651d33174be51a10c421110e6d81588ede82103a252d8"
    "a750e8768defffed9122810aaeb99f9172af82b604dc4b8e51bcb08235a6f434"
    "1332e4ca60482a4ba1a03b3e65008fc5da76b70bf1690db4eae29c5f1badd03c"
    "5ccf2a55d705ddcd86d449511ceb7ec30bf12b1fa35b913f9f747a8afd1b130e"
    "94bff94effd01a91735ca1726acd0b197c4e5b03393697e126826fb6bbde8ecc"
    "1e08298516e2c9ed03ff3c1b7860f6de76d4cecd94c8119855ef5297ca67e9f3"
    "e7ff72b1e99785ca0a7e7720c5b36dc6d72cac9574c8cbbc2f801e23e56fd344"
    "b07f22154beba0f08ce8891e643ed995c94d9a69c9f1b5f499027a78572aeebd"
    "74d20cc39881c213ee770b1010e4bea718846977ae119f7a023ab58cca0ad752"
    "afe656bb3c17256a9f6e9bf19fdd5a38fc82bbe872c5539edb609ef4f79c203e"
    "bb140f2e583cb2ad15b4aa5b655016a8449277dbd477ef2c8d6c017db738b18d"
    "eb4a427d1923ce3ff262735779a418f20a282df920147beabe421ee5319d0568";

constexpr char kVector5Ct[] =
    "264d3ca8512194fec312c8c9891f279fefdd608d0c027b60483a3fa811d65ee5"
    "9d52d9e40ec5672d81532b38b6b089ce951f0f9c35590b8b978d175213f329bb"
    "1c2fd30f2f7f30492a61a532a79f51d36f5e31a7c9a12c286082ff7d2394d18f"
    "783e1a8e72c722caaaa52d8f065657d2631fd25bfd8e5baad6e527d763517501"
    "c68c5edc3cdd55435c532d7125c8614deed9adaa3acade5888b87bef641c4c99"
    "4c8091b5bcd387f3963fb5bc37aa922fbfe3df4e5b915e6eb514717bdd2a7407"
    "9a5073f5c4bfd46adf7d282e7a393a52579d11a028da4d9cd9c77124f9648ee3"
    "83b1ac763930e7162a8d37f350b2f74b8472cf09902063c6b32e8c2d9290cefb"
    "d7346d1c779a0df50edcde4531da07b099c638e83a755944df2aef1aa31752fd"
    "323dcb710fb4bfbb9d22b925bc3577e1b8949e729a90bbafeacf7f7879e7b114"
    "7e28ba0bae940db795a61b15ecf4df8db07b824bb062802cc98a9545bb2aaeed"
    "77cb3fc6db15dcd7d80d7d5bc406c4970a3478ada8899b329198eb61c193fb62"
    "75aa8ca340344a75a862aebe92eee1ce032fd950b47d7704a3876923b4ad6284"
    "4bf4a09c4dbe8b4397184b7471360c9564880aedddb9baa4af2e75394b08cd32"
    "ff479c57a07d3eab5d54de5f9738b8d27f27a9f0ab11799d7b7ffefb2704c95c"
    "6ad12c39f1e867a4b7b1d7818a4b753dfd2a89ccb45e001a03a867b187f225dd";

constexpr char kVector10Ct[] =
    "1c3b3a102f770386e4836c99e370cf9bea00803f5e482357a4ae12d414a3e63b"
    "5d31e276f8fe4a8d66b317f9ac683f44680a86ac35adfc3345befecb4bb188fd"
    "5776926c49a3095eb108fd1098baec70aaa66999a72a82f27d848b21d4a741b0"
    "c5cd4d5fff9dac89aeba122961d03a757123e9870f8acf1000020887891429ca"
    "2a3e7a7d7df7b10355165c8b9a6d0a7de8b062c4500dc4cd120c0f7418dae3d0"
    "b5781c34803fa75421c790dfe1de1834f280d7667b327f6c8cd7557e12ac3a0f"
    "93ec05c52e0493ef31a12d3d9260f79a289d6a379bc70c50841473d1a8cc81ec"
    "583e9645e07b8d9670655ba5bbcfecc6dc3966380ad8fecb17b6ba02469a020a"
    "84e18e8f84252070c13e9f1f289be54fbc481457778f616015e1327a02b140f1"
    "505eb309326d68378f8374595c849d84f4c333ec4423885143cb47bd71c5edae"
    "9be69a2ffeceb1bec9de244fbe15992b11b77c040f12bd8f6a975a44a0f90c29"
    "a9abc3d4d893927284c58754cce294529f8614dcd2aba991925fedc4ae74ffac"
    "6e333b93eb4aff0479da9a410e4450e0dd7ae4c6e2910900575da401fc07059f"
    "645e8b7e9bfdef33943054ff84011493c27b3429eaedb4ed5376441a77ed4385"
    "1ad77f16f541dfd269d50d6a5f14fb0aab1cbb4c1550be97f7ab4066193c4caa"
    "773dad38014bd2092fa755c824bb5e54c4f36ffda9fcea70b9c6e693e148c151";

constexpr char kVector11Ct[] =
    "77a31251618a15e6b92d1d66dffe7b50b50bad552305ba0217a610688eff7e11"
    "e1d0225438e093242d6db274fde801d4cae06f2092c728b2478559df58e837c2"
    "469ee4a4fa794e4bbc7f39bc026e3cb72c33b0888f25b4acf56a2a9804f1ce6d"
    "3d6e1dc6ca181d4b546179d55544aa7760c40d06741539c7e3cd9d2f6650b201"
    "3fd0eeb8c2b8e3d8d240ccae2d4c98320a7442e1c8d75a42d6e6cfa4c2eca179"
    "8d158c7aecdf82490f24bb9b38e108bcda12c3faf9a21141c3613b58367f922a"
    "aa26cd22f23d708dae699ad7cb40a8ad0b6e2784973dcb605684c08b8d6998c6"
    "9aac049921871ebb65301a4619ca80ecb485a31d744223ce8ddc2394828d6a80"
    "470c092f5ba413c3378fa6054255c6f9df4495862bbb3287681f931b687c888a"
    "bf844dfc8fc28331e579928cd12bd2390ae123cf03818d14dedde5c0c24c8ab0"
    "18bfca75ca096f2d531f3d1619e785f1ada437cab92e980558b3dce1474afb75"
    "bfedbf8ff54cb2618e0244c9ac0d3c66fb51598cd2db11f9be39791abe447c63"
    "094f7c453b7ff87cb5bb36b7c79efb0872d17058b83b15ab0866ad8a58656c5a"
    "7e20dbdf308b2461d97c0ec0024a2715055249cf3b478ddd4740de654f75ca68"
    "6e0d7345c69ed50cdc2a8b332b1f8824108ac937eb050585608ee734097fc090"
    "54fbff89eeaeea791f4a7ab1f9868294a4f9e27b42af8100cb9d59cef9645803";

constexpr char kVector12Ct[] =
    "e387aaa58ba483afa7e8eb469778317ecf4cf573aa9d4eac23f2cdf914e4e200"
    "a8b490e42ee646802dc6ee2b471b278195d60918ececb44bf79966f83faba049"
    "9298ebc699c0c8634715a320bb4f075d622e74c8c932004f25b41e361025b5a8"
    "7815391f6108fc4afa6a05d9303c6ba68a128a55705d415985832fdeaae6c8e1"
    "9110e84d1b1f199a2692119edc96132658f09da7c623efcec712537a3d94c0bf"
    "5d7e352ec94ae5797fdb377dc1551150721adf15bd26a8efc2fcaad56881fa9e"
    "62462c28f30ae1ceaca93c345cf243b73f542e2074a705bd2643bb9f7cc79bb6"
    "e7091ea6e232df0f9ad0d6cf502327876d82207abf2115cdacf6d5a48f6c1879"
    "a65b115f0f8b3cb3c59d15dd8c769bc014795a1837f3901b5845eb491adfefe0"
    "97b1fa30a12fc1f65ba22905031539971a10f2f36c321bb51331cdefb39e3964"
    "c7ef079994f5b69b2edd83a71ef549971ee93f44eac3938fcdd61d01fa71799d"
    "a3a8091c4c48aa9ed263ff0749df95d44fef6a0bb578ec69456aa5408ae32c7a"
    "f08ad7ba8921287e3bbee31b767be06a0e705c864a769137df28292283ea81a2"
    "480241b44d9921cdbec1bc28dc1fda114bd8e5217ac9d8ebafa720e9da4f9ace"
    "231cc949e5b96fe76ffc21063fddc83a6b8679c00d35e09576a875305bed5f36"
    "ed242c8900dd1fa965bc950dfce09b132263a1eef52dd6888c309f5a7d712826";

constexpr char kVector13Ct[] =
    "bf53d2dade78e822a4d949a9bc6766b01b06a8ef70d26748c6a7fc36d80ae4c5"
    "520f7c4ab0ac8544424fa405162fef5a6b7f229498063618d39f0003cb5fb8d1"
    "c86b643497da1ff945c8d3bedeca4f479702a7a735f043ddb1d6aaade3c4a0ac"
    "7ca7f3fa5279bef56f82cd7a2f38672e824814e10700300a055e1630b8f1cb0e"
    "919f5e942010a416e2bf48cb46993d3cb6a51c19bacf864785a00bc2ecff15d3"
    "50875b246ed53e68be6f55bd7e05cfc2b2ed6432198a6444b6d8c247fab941f5"
    "69768b5c429366f1d3f00f0345b96123d56204c01c63b22ce78baf116e525ed9"
    "0fdea39fa469494d3866c31e05f295ff21fea8d4e6e13d67e47ce722e9698a1c"
    "1048d68ebcde76b86fcf976eab8aa9790268b7068e017a8b9b749409514f1053"
    "027fd16c3786ea1bac5f15cb79711ee2abe82f5cf8b13ae73030ef5b9e4457e7"
    "5d1304f988d62dd6fc4b94ed38ba831da4b7634971b6cd8ec325d9c61c00f1df"
    "73627ed3745a5e8489f3a95c69639c32cd6e1d537a85f75cc844726e8a72fc00"
    "77ad22000f1d5078f6b866318c668f1ad03d5a5fced5219f2eabbd0aa5c0f460"
    "d183f04404a0d6f469558e81fab24a167905ab4c7878502ad3e38fdbe62a4155"
    "6cec37325759533ce8f25f367c87bb5578d667ae93f9e2fd99bcbc5f2fbba88c"
    "f6516139420fcff3b7361d86322c4bd84c82f335abb152c4a93411373aaa8220";

constexpr char kVector14Ct[] =
    "64497e5a831e4a932c09be3e5393376daa599548b816031d224bbf50a818ed23"
    "50eae7e96087c8a0db51ad290bd00c1ac1620857635bf246c176ab463be30b80"
    "8da548081ac847b158e1264be25bb0910bbc92647108089415d45fab1b3d2604"
    "e8a8eff1ae4020cfa39936b66827b23f371b92200be90251e6d73c5f86de5fd4"
    "a950781933d79a28272b782a2ec313efdfcc0628f43d744c2dc2ff3dcb66999b"
    "50c7ca895b0c64791eeaa5f29499fb1c026f84ce5b5c72ba1083cddb5ce45434"
    "631665c333b60b11593fb253c5179a2c8db813782a004856a1653011e93fb6d8"
    "76c18366dd8683f53412c0c180f9c848592d593f8609ca736317d356e13e2bff"
    "3a9f59cd9aeb19cd482593d8c46128bb32423b37a9adfb482b99453fbe25a41b"
    "f6feb4aa0bef5ed24bf73c762978025482c13115e4015aac992e5613a3b5c2f6"
    "85b84795cb6e9b2656d8c88157e52c42f978d8634c43d06fea928f2822e465aa"
    "6576e9bf419384506cc3ce3c54ac1a6f67dc66f3b30191e698380bc999b05abc"
    "e19dc0c6dcc2dd001ec535ba18deb2df1a101023108318c75dc98611a09dc48a"
    "0acdec676fabdf222f07e026f059b672b56e5cbc8e1d21bbd867dd9272120546"
    "81d70ea737134cdfce93b6f82ae22423274e58a0821cc5502e2d0ab4585e94de"
    "6975be5e0b4efce51cd3e70c25a1fbbbd609d273ad5b0d59631c531f6a0a57b9";

constexpr char kVector19Ct[] =
    "38b45812ef43a05bd957e545907e223b954ab4aaf088303ad910eadf14b42be6"
    "8b2461149d8c8ba85f992be970bc621f1b06573f63e867bf5875acafa04e42cc"
    "bd7bd3c2a0fb1fff791ec5ec36c66ae4ac1e806d81fbf709dbe29e471fad3854"
    "9c8e66f5345d7c1eb94f405d1ec785cc6f6a68f6254dd8339f9d84057e01a177"
    "41990482999516b5611a38f41bb6478e6f173f320805dd71b1932fc333cb9ee3"
    "9936beea9ad96fa10fb4112b901734ddad40bc1878995f8e11aee7d141a2f5d4"
    "8b7a4e1e7f0b2c04830e69a4fd1378411c2f287edf48c6c4e5c247a19680f7fe"
    "41cefbd49b582106e3616cbbe4dfb2344b2ae9519391f3e0fb4922254b1d6d2d"
    "19c6d4d537b3a26f3bcc51588b32f3eca0829b6a5ac72578fb814fb43cf80d64"
    "a233e3f997a3f02683342f2b33d25b492536b93becb2f5e1a8b82f5b88334272"
    "9e8ae09d16938841a21a97fb543eea3bbff59f13c1a18449e398701c1ad51648"
    "346cbc04c27bb2da3b93a1372ccae548fb53bee476f9e9c91773b1bb19828394"
    "d55d3e1a20ed69113a860b6829ffa847224604435070221b257e8dff783615d2"
    "cae4803a93aa4334ab482a0afac9c0aeda70b45a481df5dec5df8cc0f423c77a"
    "5fd46cd312021d4b438862419a791be03bb4d97c0e59578542531ba466a83baf"
    "92cefc151b5cc1611a167893819b63fb8a6b18e86de60290fa72b797b0ce59f3";

constexpr char kKey128[] =
    "27182818284590452353602874713526"
    "31415926535897932384626433832795";
constexpr char kKey256[] =
    "2718281828459045235360287471352662497757247093699959574966967627"
    "3141592653589793238462643383279502884197169399375105820974944592";
constexpr char kKey19[] =
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeef"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf";

struct Vector {
  const char* name;
  const char* key;        // key1 || key2
  uint64_t dusn;          // data unit sequence number: the little-endian tweak, as plain64
  const char* plaintext;  // nullptr: Pattern512()
  const char* ciphertext;
};

const Vector kVectors[] = {
    {"Vector4", kKey128, 0, nullptr, kVector4Ct},
    {"Vector5", kKey128, 1, kVector4Ct, kVector5Ct},  // vector 5 encrypts vector 4's output
    {"Vector10", kKey256, 0xff, nullptr, kVector10Ct},
    {"Vector11", kKey256, 0xffff, nullptr, kVector11Ct},
    {"Vector12", kKey256, 0xffffff, nullptr, kVector12Ct},
    {"Vector13", kKey256, 0xffffffff, nullptr, kVector13Ct},
    {"Vector14", kKey256, 0xffffffffff, nullptr, kVector14Ct},
    {"Vector19", kKey19, 0xa987654321, nullptr, kVector19Ct},
};

class Ieee1619 : public ::testing::TestWithParam<Vector> {};

TEST_P(Ieee1619, EncryptsAndDecryptsTheDataUnit) {
  const Vector& v = GetParam();
  const Bytes key = FromHex(v.key);
  const Bytes plain = v.plaintext ? FromHex(v.plaintext) : Pattern512();
  const Bytes expected = FromHex(v.ciphertext);
  ASSERT_EQ(plain.size(), 512u);
  ASSERT_EQ(expected.size(), 512u);

  auto enc = XtsCipher::Create(key, 512, Direction::kEncrypt);
  ASSERT_TRUE(enc.ok()) << enc.error().message();
  Bytes data = plain;
  ASSERT_TRUE(enc->Apply(v.dusn, data).ok());
  EXPECT_EQ(ToHex(data), ToHex(expected));

  auto dec = XtsCipher::Create(key, 512, Direction::kDecrypt);
  ASSERT_TRUE(dec.ok()) << dec.error().message();
  ASSERT_TRUE(dec->Apply(v.dusn, data).ok());
  EXPECT_EQ(data, plain);
}

// The vector's data unit inside a run of sectors (in the middle when it
// can be): the tweak must count up across the run, carries included
// (0xff -> 0x100).
TEST_P(Ieee1619, HoldsInsideALongerRunOfSectors) {
  const Vector& v = GetParam();
  const Bytes key = FromHex(v.key);
  const Bytes plain = v.plaintext ? FromHex(v.plaintext) : Pattern512();
  const uint64_t first = v.dusn == 0 ? 0 : v.dusn - 1;
  const size_t at = static_cast<size_t>(v.dusn - first) * 512;
  Bytes data = RandomBytes(3 * 512, v.dusn);
  std::copy(plain.begin(), plain.end(), data.begin() + at);
  const Bytes last(data.end() - 512, data.end());

  auto enc = XtsCipher::Create(key, 512, Direction::kEncrypt);
  ASSERT_TRUE(enc.ok());
  ASSERT_TRUE(enc->Apply(first, data).ok());
  EXPECT_EQ(ToHex(std::span(data).subspan(at, 512)), ToHex(FromHex(v.ciphertext)));
  EXPECT_EQ(ToHex(std::span(data).subspan(1024, 512)), ToHex(EvpXts(key, first + 2, last, true)));
}

INSTANTIATE_TEST_SUITE_P(AnnexB, Ieee1619, ::testing::ValuesIn(kVectors),
                         [](const ::testing::TestParamInfo<Vector>& p) { return std::string(p.param.name); });

Bytes Key256() { return FromHex(kKey256); }

TEST(XtsCipher, RoundTripsWith512ByteSectors) {
  const Bytes plain = RandomBytes(64 * 512, 7);
  auto enc = XtsCipher::Create(Key256(), 512, Direction::kEncrypt);
  auto dec = XtsCipher::Create(Key256(), 512, Direction::kDecrypt);
  ASSERT_TRUE(enc.ok() && dec.ok());
  EXPECT_EQ(enc->sector_size(), 512u);
  Bytes data = plain;
  ASSERT_TRUE(enc->Apply(1000, data).ok());
  EXPECT_NE(data, plain);
  // Identical plaintext sectors encrypt differently at different positions.
  Bytes same(2 * 512, 0);
  ASSERT_TRUE(enc->Apply(0, same).ok());
  EXPECT_NE(std::memcmp(same.data(), same.data() + 512, 512), 0);
  ASSERT_TRUE(dec->Apply(1000, data).ok());
  EXPECT_EQ(data, plain);
}

TEST(XtsCipher, RoundTripsWith4096ByteSectors) {
  const Bytes plain = RandomBytes(16 * 4096, 8);
  auto enc = XtsCipher::Create(Key256(), 4096, Direction::kEncrypt);
  auto dec = XtsCipher::Create(Key256(), 4096, Direction::kDecrypt);
  ASSERT_TRUE(enc.ok() && dec.ok());
  EXPECT_EQ(enc->sector_size(), 4096u);
  Bytes data = plain;
  ASSERT_TRUE(enc->Apply(8 * 123, data).ok());
  EXPECT_NE(data, plain);
  ASSERT_TRUE(dec->Apply(8 * 123, data).ok());
  EXPECT_EQ(data, plain);
}

// dm-crypt (LUKS2, no iv_large_sectors): a 4096-byte sector is one XTS data
// unit whose tweak is its first 512-byte sector number, so 8 * k.
TEST(XtsCipher, FourKSectorsAreDataUnitsWithTweaksCountedIn512ByteUnits) {
  const Bytes key = Key256();
  const Bytes plain = RandomBytes(6 * 4096, 9);
  const uint64_t first = 8 * 1000;
  Bytes data = plain;
  auto enc = XtsCipher::Create(key, 4096, Direction::kEncrypt);
  ASSERT_TRUE(enc.ok());
  ASSERT_TRUE(enc->Apply(first, data).ok());
  for (size_t k = 0; k < 6; ++k) {
    const Bytes unit(plain.begin() + k * 4096, plain.begin() + (k + 1) * 4096);
    const Bytes ref = EvpXts(key, first + 8 * k, unit, true);
    EXPECT_EQ(std::memcmp(data.data() + k * 4096, ref.data(), 4096), 0) << "sector " << k;
  }
  // Not the same as eight 512-byte sectors, nor as tweaks counted in 4096-byte units.
  Bytes as512 = plain;
  auto enc512 = XtsCipher::Create(key, 512, Direction::kEncrypt);
  ASSERT_TRUE(enc512.ok());
  ASSERT_TRUE(enc512->Apply(first, as512).ok());
  EXPECT_NE(as512, data);
  const Bytes unit0(plain.begin(), plain.begin() + 4096);
  EXPECT_NE(EvpXts(key, first / 8, unit0, true), Bytes(data.begin(), data.begin() + 4096));
}

TEST(XtsCipher, Aes128KeysWork) {
  const Bytes key = FromHex(kKey128);
  const Bytes plain = RandomBytes(2 * 4096, 10);
  Bytes data = plain;
  auto enc = XtsCipher::Create(key, 4096, Direction::kEncrypt);
  ASSERT_TRUE(enc.ok());
  ASSERT_TRUE(enc->Apply(8, data).ok());
  const Bytes unit1(plain.begin() + 4096, plain.end());
  EXPECT_EQ(Bytes(data.begin() + 4096, data.end()), EvpXts(key, 16, unit1, true));
}

TEST(XtsCipher, EmptyInputIsANoOp) {
  auto enc = XtsCipher::Create(Key256(), 4096, Direction::kEncrypt);
  ASSERT_TRUE(enc.ok());
  EXPECT_TRUE(enc->Apply(0, {}).ok());
}

TEST(XtsCipher, MovedCipherKeepsWorkingAndTheHusksRefuse) {
  auto enc = XtsCipher::Create(Key256(), 512, Direction::kEncrypt);
  ASSERT_TRUE(enc.ok());
  XtsCipher moved = std::move(*enc);
  Bytes data = Pattern512();
  ASSERT_TRUE(moved.Apply(0xff, data).ok());
  EXPECT_EQ(ToHex(data), ToHex(FromHex(kVector10Ct)));
  Status s = enc->Apply(0, data);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind(), ErrorKind::kUsage);

  auto other = XtsCipher::Create(FromHex(kKey128), 512, Direction::kEncrypt);
  ASSERT_TRUE(other.ok());
  moved = std::move(*other);  // frees the old context (ASan would see a leak)
  data = Pattern512();
  ASSERT_TRUE(moved.Apply(0, data).ok());
  EXPECT_EQ(ToHex(data), ToHex(FromHex(kVector4Ct)));
}

TEST(XtsCipher, RefusesBadKeys) {
  for (size_t n : {0, 1, 16, 31, 33, 48, 63, 65, 128}) {
    auto r = XtsCipher::Create(RandomBytes(n, n), 512, Direction::kEncrypt);
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.error().kind(), ErrorKind::kUsage);
    EXPECT_NE(r.error().message().find(std::to_string(n) + " bytes"), std::string::npos) << r.error().message();
  }
}

TEST(XtsCipher, RefusesEqualKeyHalvesWithoutPrintingThem) {
  for (size_t n : {32, 64}) {
    for (Direction d : {Direction::kEncrypt, Direction::kDecrypt}) {
      const Bytes key(n, 'k');
      auto r = XtsCipher::Create(key, 4096, d);
      ASSERT_FALSE(r.ok()) << n;
      EXPECT_EQ(r.error().kind(), ErrorKind::kUsage);
      const std::string& m = r.error().message();
      EXPECT_NE(m.find("halves"), std::string::npos) << m;
      EXPECT_EQ(m.find("kkkk"), std::string::npos) << m;
      EXPECT_EQ(m.find("6b6b"), std::string::npos) << m;
    }
  }
  // Halves differing in one byte are fine.
  Bytes key(64, 'k');
  key[63] ^= 1;
  EXPECT_TRUE(XtsCipher::Create(key, 512, Direction::kEncrypt).ok());
}

TEST(XtsCipher, RefusesOtherSectorSizes) {
  for (uint32_t s : {0u, 256u, 1024u, 2048u, 8192u, 4097u}) {
    auto r = XtsCipher::Create(Key256(), s, Direction::kEncrypt);
    ASSERT_FALSE(r.ok()) << s;
    EXPECT_EQ(r.error().kind(), ErrorKind::kUsage);
    EXPECT_NE(r.error().message().find(std::to_string(s)), std::string::npos);
  }
}

TEST(XtsCipher, RefusesPartialSectorsAndMisalignedStarts) {
  auto c512 = XtsCipher::Create(Key256(), 512, Direction::kEncrypt);
  auto c4k = XtsCipher::Create(Key256(), 4096, Direction::kDecrypt);
  ASSERT_TRUE(c512.ok() && c4k.ok());
  Bytes buf(3 * 4096);
  const Bytes before = buf;
  for (size_t n : {1, 16, 511, 513, 1000}) {
    Status s = c512->Apply(0, std::span(buf).first(n));
    ASSERT_FALSE(s.ok()) << n;
    EXPECT_EQ(s.error().kind(), ErrorKind::kUsage);
  }
  for (size_t n : {512, 4095, 4097, 8192 + 512}) {
    Status s = c4k->Apply(0, std::span(buf).first(n));
    ASSERT_FALSE(s.ok()) << n;
    EXPECT_EQ(s.error().kind(), ErrorKind::kUsage);
  }
  for (uint64_t first : {1, 4, 7, 9, 8 * 5 + 3}) {
    Status s = c4k->Apply(first, std::span(buf).first(4096));
    ASSERT_FALSE(s.ok()) << first;
    EXPECT_EQ(s.error().kind(), ErrorKind::kUsage);
    EXPECT_NE(s.error().message().find("aligned"), std::string::npos) << s.error().message();
  }
  EXPECT_EQ(buf, before);  // refused calls leave the data alone
}

}  // namespace
}  // namespace vhdcrypt
