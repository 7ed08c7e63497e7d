//! Golden tests of the weighted quantizers against ggml: hashes of `ggml_quantize_chunk`
//! output with importance weights, from the reference build (libggml-base of llama.cpp
//! 0c1e57098) on the golden rows of `tests/data/quant/input.f32` and on rows generated here.

use super::*;
use crate::quant::legacy::test_support::input;

/// The generator shared with the C harness (xorshift64, 24-bit uniform in [-0.5, 0.5)).
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / 16_777_216.0 - 0.5
    }
}

const NROWS: usize = 24;
const NCOL: usize = 512;

/// Generated rows and weights: plain, outliers, all-positive with spiky weights, zero-weight
/// sub-blocks, zero sub-blocks, one-hot-ish weights.
pub(crate) fn gen_rows() -> Vec<(Vec<f32>, Vec<f32>)> {
    (0..NROWS)
        .map(|r| {
            let mut g = Gen(0x9e37_79b9_7f4a_7c15 ^ (r as u64 + 1).wrapping_mul(0x0100_0000_01b3));
            let mut x = vec![0f32; NCOL];
            let mut w = vec![0f32; NCOL];
            for i in 0..NCOL {
                let u = g.unit();
                let v = g.unit();
                (x[i], w[i]) = match r % 6 {
                    0 => (u * 2.0, (v + 0.5) * (v + 0.5) * 10.0),
                    1 => (if i % 37 == 0 { u * 50.0 } else { u }, v + 0.5),
                    2 => (
                        (u + 0.6) * 0.001,
                        if i % 8 == 0 {
                            (v + 0.5) * 1000.0
                        } else {
                            0.000001
                        },
                    ),
                    3 => (u, if i % 256 < 64 { 0.0 } else { v + 0.5 }),
                    4 => (if i % 256 < 48 { 0.0 } else { u }, v + 0.5),
                    _ => (u * v * 8.0, if i % 16 == 0 { 100.0 } else { 0.001 }),
                };
            }
            (x, w)
        })
        .collect()
}

/// Weights for the 256-element golden rows.
fn golden_weights() -> Vec<f32> {
    let mut g = Gen(0x5eed_5eed_5eed_5eed);
    (0..256)
        .map(|_| {
            let u = g.unit();
            (u + 0.5) * (u + 0.5)
        })
        .collect()
}

fn fnv_bytes(b: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &v in b {
        h ^= v as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

type WFn = fn(&[f32], Option<&[f32]>, &mut [u8]);

fn kernels() -> [(&'static str, WFn, usize, usize); 10] {
    [
        ("q2_K", quantize_row_q2_k_w, QK_K, Q2_K_BYTES),
        ("q3_K", quantize_row_q3_k_w, QK_K, Q3_K_BYTES),
        ("q4_K", quantize_row_q4_k_w, QK_K, Q4_K_BYTES),
        ("q5_K", quantize_row_q5_k_w, QK_K, Q5_K_BYTES),
        ("q6_K", quantize_row_q6_k_w, QK_K, Q6_K_BYTES),
        ("q4_0", quantize_row_q4_0_w, QK, Q4_0_BYTES),
        ("q4_1", quantize_row_q4_1_w, QK, Q4_1_BYTES),
        ("q5_0", quantize_row_q5_0_w, QK, Q5_0_BYTES),
        ("q5_1", quantize_row_q5_1_w, QK, Q5_1_BYTES),
        ("q8_0", quantize_row_q8_0_w, QK, legacy::Q8_0_BYTES),
    ]
}

#[test]
fn weighted_kernels_match_ggml_reference() {
    let golden = input();
    let gw = golden_weights();
    let rows = gen_rows();
    let mut bad = Vec::new();
    for (t, (name, f, block, bytes)) in kernels().into_iter().enumerate() {
        let mut hashes = Vec::new();
        for c in golden.chunks_exact(256) {
            let mut out = vec![0u8; 256 / block * bytes];
            f(c, Some(&gw), &mut out);
            hashes.push(fnv_bytes(&out));
        }
        for (x, w) in &rows {
            let mut out = vec![0u8; NCOL / block * bytes];
            f(x, Some(w), &mut out);
            hashes.push(fnv_bytes(&out));
        }
        for (i, (&got, &want)) in hashes.iter().zip(GOLDEN[t].iter()).enumerate() {
            if got != want {
                bad.push(format!("{name} row {i}"));
            }
        }
    }
    assert!(bad.is_empty(), "differ from ggml: {bad:?}");
}

#[test]
fn no_weights_is_the_reference_path() {
    let rows = gen_rows();
    let (x, _) = &rows[0];
    for (name, f, block, bytes) in kernels() {
        let ty = crate::quant::GgmlType::from_name(name).unwrap();
        let mut a = vec![0u8; NCOL / block * bytes];
        let mut b = a.clone();
        f(x, None, &mut a);
        crate::quant::quantize_row_scalar(ty, x, &mut b);
        assert_eq!(a, b, "{name}");
    }
}

#[test]
fn weights_change_the_result() {
    let rows = gen_rows();
    let (x, w) = &rows[0];
    for (name, f, block, bytes) in kernels().into_iter().take(9) {
        let mut a = vec![0u8; NCOL / block * bytes];
        let mut b = a.clone();
        f(x, None, &mut a);
        f(x, Some(w), &mut b);
        assert_ne!(a, b, "{name}");
    }
}

/// FNV-1a hashes of the reference's bytes: per type, the 13 golden rows then the 24
/// generated rows.
#[rustfmt::skip]
const GOLDEN: [[u64; 37]; 10] = [
    // q2_K
    [
        0x6975f1271857fe35,
        0x75d65337d82f4093,
        0xd02cf46bd642796d,
        0xae17eaae468e70e9,
        0x5de13d9b1485f497,
        0xa6928c2464f196c3,
        0x7d0ad2ca5c6389a9,
        0x47bafba24217be77,
        0x2409969ebdbf3ee6,
        0xb4ef113e9964b238,
        0x68edb22658464c5d,
        0xa8c011162bf3d983,
        0xb7e7587ad908b4e9,
        0x6b033d25ba06a89c,
        0x54df5d209e326d73,
        0xd00dd0cc88e270d4,
        0xc0cdcc33cbf15919,
        0xe4f48b1756ad4cb8,
        0xfab8a44177e34006,
        0x454370a7a5c0a2e6,
        0xc1c5d67e249d304b,
        0x427eff23cf5942e0,
        0xa2783cb66070b3ab,
        0xaf09ce8162edb6e5,
        0x8397728627394cdd,
        0x2cec03555a2cc9b9,
        0x9b6a2a298e629b7b,
        0x6ad70d9e1325ac4b,
        0xc2f8714ab3906058,
        0x3fb5c6349ed6e19d,
        0x052530703aea8f26,
        0xd4961606b43e41b8,
        0x829f1a5c4a92a0b5,
        0x79b3eac34d88acf3,
        0x8cd41c3da667e3be,
        0x9b790ee7b629a0ce,
        0xb3f82076cde29c64,
    ],
    // q3_K
    [
        0x76c519d78418065d,
        0xd91b5ef81a31eb41,
        0xd44442e27f5f34a1,
        0x8a503ade67842e83,
        0xc6a2b687bf547de4,
        0xf0101a200353ec20,
        0x9fc5f21ec2039501,
        0x1068e66ccb7b7a5c,
        0x7fe8d7508b594701,
        0x54deed2826d8e966,
        0xa5a3469c74d06d95,
        0xe6f44cd95023b193,
        0x2f681ba010493f09,
        0xa453d889ffb90ac1,
        0x43df94a17e388490,
        0xd8c80c4a69b7b561,
        0xc69a6131b70f863f,
        0x3a88e2b30f5631c9,
        0xf92fe972260ccc41,
        0x019bc205989b980b,
        0x3473d4868f5f011c,
        0x980444e1a5676704,
        0xfe08f2e5984d1faf,
        0x875356ec5f27e79c,
        0xe29e4d5c8e3dc8bc,
        0xa278de2e4d7ca8b3,
        0x399d02783cabbe68,
        0xd5e9c700bd80040b,
        0x77b508f648da5a79,
        0x4b79857f4ee2e9a3,
        0x61b80f4e2a9346da,
        0x1bb7bfc52da77a79,
        0x6bbafd408eb16ee5,
        0x8fb6ab8fa51860b1,
        0x907bf0f528ebd375,
        0x9b52eba0af8497f1,
        0x947083f2d83271d2,
    ],
    // q4_K
    [
        0xec32669a74fcae65,
        0xfb1f3af61b591579,
        0xf11e4fbbd7b141f7,
        0x235ab042ef603961,
        0x8e5038b9ff479243,
        0xbbaebc9754931b4f,
        0xe43c62d5835c90cc,
        0x74cbfc216343bd45,
        0x0f321aad8aac531b,
        0xea3440061d027a3d,
        0x9d11d99d993e1253,
        0x0fc84b006a200ce6,
        0x6b30df7002cf61b5,
        0xb64faaec72f996ba,
        0x67fe160148be8300,
        0xb1bb81fddc3c37d3,
        0x2b497073d0a82f38,
        0xe3d5e7f5d9107fd4,
        0xb9dfa81bba235b5c,
        0x9bbb89840b57d9bc,
        0x320d689759963b13,
        0xb741d3eaf635d237,
        0x818dc71380ed2710,
        0x4802428b83fc9147,
        0x261ecf77d8bc8ddf,
        0x799c741a356d9f9d,
        0x0a14e9c22a48d9ed,
        0x26a20494eae17337,
        0x19bc662950f51a0c,
        0x5e1cccf1631e4ebd,
        0x1555b73e16f0ac16,
        0x3ff43fe69a4df800,
        0xa0aa01fd5b2c044e,
        0xf5068da601db4567,
        0xca1bf524e4ba8333,
        0x8756d5890c7487a8,
        0x814d1429f978fb41,
    ],
    // q5_K
    [
        0xad7f8afd9dfb20e5,
        0x95bcedf9ee2e7e76,
        0x1a3b9591b229fd77,
        0x65ae0ea165f8e7d2,
        0xcd275603c6c3f293,
        0xaa5c8414f2aca4ae,
        0xc691308f65c0a60c,
        0x5f0e86983a9e28e3,
        0xa5e59f15e825165c,
        0x86bc2d0983e9c64a,
        0x851c0f7897379d72,
        0xc7018cee4af338ff,
        0x1ff783afc188ee45,
        0xf473f9e8cc6115ae,
        0xff7d5d6095893faa,
        0x2c09e154dd8302b5,
        0x4e8956a52b71cc30,
        0x34bb73d1d0d204e7,
        0x77586b0f744d06df,
        0x77bccea7494de39a,
        0x3fb1a87ecf86c7aa,
        0xb369b05ef497e0fc,
        0x50f3e6e68fc6f629,
        0xdc9f1ae40b9e704f,
        0x19c0dcd45bf03b2c,
        0xfb519dd9b8d0e523,
        0x3fa00da1c7cc3cda,
        0x61ea77d2614446d6,
        0xb0f37038082b2c08,
        0x188a528dc6344417,
        0x1385b5ef80bad4ed,
        0xdab4041303fa9d3f,
        0xb021f8ad033f3e99,
        0x988e6cb019e57664,
        0x39739843369c1e4e,
        0xcdfce1d6799e571f,
        0x72da30872f0e82b5,
    ],
    // q6_K
    [
        0x51d8f4040b006a2d,
        0x7d0475df9243bbb7,
        0xfbd8eb95ed0a2df1,
        0xc9d391cada0dbd85,
        0x96f08b07fafa8695,
        0x9f1878cb5a248131,
        0x2e036cfb302d5779,
        0x0ef345fa36a8e119,
        0x315d4cb75ed95cbd,
        0xa7d20de7a7771954,
        0xcc1f644bc66b9b43,
        0x5083efa1232ae32e,
        0x7fe219f2f78beeb9,
        0x89b698d71ba92130,
        0xc24d5da2208bf881,
        0x4e48b06100fd2b00,
        0x9c6ebfdaecd3bc9d,
        0xa3808ec150904eca,
        0xe21babadf41de6cc,
        0xd8712b393a46f791,
        0x33d9ab2ebf1f57c1,
        0xbacf82eb1df2d1cd,
        0x1fd13444a07a1785,
        0x383d91e54e1421f2,
        0xc5f12f640b4d34c5,
        0x87ab5d77c8039b26,
        0x3e5875e7e779c5d3,
        0x75314e9cf11cd7f9,
        0x8e56a0256ff94359,
        0x0815e08d58af4f31,
        0x6ac8b9f4e2cb6f82,
        0x80a6304e639c5715,
        0x2bc2e8d47e48ac3f,
        0x279178a3c1a65df5,
        0x8b84aaa2355fabe2,
        0xde97865c5251ca73,
        0xfa510434595e8fb6,
    ],
    // q4_0
    [
        0xec32669a74fcae65,
        0xfcefb72e26ad8835,
        0x0fd787fab959373e,
        0x0c77ff45ef84a56c,
        0xeb167bbffa25ed92,
        0xcc7bce89e90815e6,
        0x2e4d17c41fc2167c,
        0xce5190c18343317d,
        0x41752c76b28b1931,
        0x5bc37c3c64830177,
        0x5d6581f2a47141c1,
        0x524d5f01a0d26ca7,
        0x59203eadf8779164,
        0x7ae0530388caf923,
        0x769174072fff47f0,
        0xeed576afae4e9d41,
        0x750dca92f4e2008c,
        0x34f53ecf94d6af83,
        0xda493930a0af90da,
        0x64dfc5cb5db4fc04,
        0x643d8bb9fb3fcd2b,
        0x42666d2298c42f3c,
        0xefbc71a6148b00b0,
        0xefffa4e200bfbf4e,
        0x922824d41f37379f,
        0xa7a73fa07247901f,
        0xad8b56c273fe4897,
        0xaeaa8889913dd26d,
        0x776d748930896ad1,
        0xa923f18346b933b4,
        0xacb78c2dce52adcc,
        0xa231453cbf8a3ff7,
        0x5a1bb145207fc05f,
        0xeffe124d4a1962bd,
        0xd656762771ab4ad4,
        0xfa14d5b8cde648c4,
        0x8ea90970d463d094,
    ],
    // q4_1
    [
        0x81b169c331cabfa5,
        0x5a63a896d71357b5,
        0x6e04bd8745933ba5,
        0x702c45ee61d70aff,
        0x404b716d9f013bfa,
        0xfed8047a9fd12f62,
        0x070c89f5036fa3be,
        0x26925814168d6a69,
        0x062b1de14e3878c5,
        0x142882a5d437fe1b,
        0x67b92e0ff5340fcc,
        0xfa96313ce7440b87,
        0xdce71cfc5b346b3c,
        0x59fb8030c28b456a,
        0x6d34ed1448929155,
        0x7de62fbf5050246a,
        0x71606d987cd87cb4,
        0x5edde8444e582dc7,
        0x2c0162e55c516527,
        0x3032dbd51c165c61,
        0xdde97ca4ba4b1639,
        0x6c8fba9ccd4e381b,
        0xc952c3f6d8e4973e,
        0x4fbed88be1fc72ca,
        0x829bfdbda80fcc5c,
        0xc70280592c9483c2,
        0xc6af51860610d461,
        0x38cb469571c9078e,
        0xb334883cf4242501,
        0x48a5920f33f447c0,
        0xca690c108fa67011,
        0xfe876e648ec681d6,
        0xf3171263f6c2f23b,
        0x21ed3e00016d42ae,
        0xc4d50c600ffda6b3,
        0x00df153d74c0999a,
        0xb2e78f2bb9c3d1b3,
    ],
    // q5_0
    [
        0xad7f8afd9dfb20e5,
        0x697523766cad0225,
        0xc60b58e7df1c53f3,
        0x1a648eadbf431e0c,
        0xdd448880781906fa,
        0x9e98b1bdf08ba37f,
        0x5bab5812949f6100,
        0x99a17d93a7c3371b,
        0xd032493552c25934,
        0x11b209cab4e69d13,
        0xad97b4c1d211961e,
        0xd54a70d2f077160c,
        0x18f757432a37794a,
        0x63a01bae5bdef9bf,
        0xcbe1dcdbed1a1eba,
        0x20f035fca39dd8f3,
        0x637f6004dc07eb33,
        0xa00a1f77bda1954b,
        0x401dadff032b65ea,
        0xe65da919a1afcfbf,
        0xe7de69bcf0b76c81,
        0x6df227c1c8e8c8b2,
        0xfd2861b2040eb833,
        0xeb61c657ea611fe3,
        0x5d44366c9ffe6cd7,
        0xfb864a698a280c6a,
        0xe8e7ec5feb1f1cb8,
        0xea44de06196d771d,
        0x12d374b64d1b16d3,
        0x60367e4e4818aacc,
        0x1d16a8883c423c8a,
        0x695ac6dcae8d1847,
        0x3806db5fa07e531f,
        0xb9ffe2cfeac5032e,
        0x8d5a7847957a3118,
        0x3c502d9a601406aa,
        0x63009cbf2c08bb61,
    ],
    // q5_1
    [
        0xab0c262759a1d225,
        0xf2638eeba5316565,
        0x3111b25a0b65f025,
        0x7a3624ce825540fe,
        0x5cf127ed1581ac49,
        0x45aacdd54f2c91d2,
        0x99f5f6582f3155ad,
        0x708b6b50256dfb08,
        0x6f3fb7d49610aa6d,
        0xec20dc3ce45b5730,
        0xe831b786435a1ec3,
        0xf5533d6483b0b0c6,
        0xf8e89dbc5ad88374,
        0xdd6065e7a41bba93,
        0x19669dfc7d86beb3,
        0xed58b0f30dab5ae6,
        0x04b20181d01dd9b2,
        0xa31e21807c240330,
        0xf8c18c9faf4298a4,
        0x7d42b37e5327dad5,
        0xb1a683be4b61783f,
        0x0048ee6cfe524079,
        0x75b752db3444a92a,
        0x6375d54a4ca5a2a5,
        0x6b88c180a4034b36,
        0x4dafd813c6d01c18,
        0x102016deef8cba46,
        0x3e360d7d50f0587b,
        0xed0b3ee07e470d22,
        0x7919a164f7ce7142,
        0xe7e37b1a003eea08,
        0x328f826ebe3d2683,
        0x5d037a8d766e8fb4,
        0xf304894a82c77e25,
        0xdc3c7ece2681c741,
        0x860fc642fd7ae50d,
        0x053e3e1a65295f23,
    ],
    // q8_0
    [
        0xb20a3b9d2c8df865,
        0xebff611f9ad6b3a5,
        0x1ca51f0dd3204625,
        0x44af771d63227767,
        0x9647f3fe52b6f4fc,
        0x1ba6ff796016adbf,
        0x697ca5444fe8b71a,
        0x4f75b53cb853606e,
        0x9fd6f7fa8138a046,
        0x350eb20108440683,
        0x16f04b7b2456b909,
        0x55f555e7aa46e2f4,
        0x9c8699f69c5c0514,
        0xde8a3e2620426fd5,
        0xe9dbb9e30b9393aa,
        0x804d6fedc23a6fed,
        0x4ee02b60754bf281,
        0x1225f1bb44140fb9,
        0xb648071b2123fb91,
        0x12228b49443631a8,
        0x29dbe52d9ec683dc,
        0xa73f53a835b2408b,
        0x6040d7083d7003b2,
        0x22d2f0356b184e95,
        0x26e8e031c42764d8,
        0xa3e27e4c476fbc5d,
        0xdab3c88464744404,
        0xe204fd53e947cfb9,
        0x7abe4f96607028ed,
        0x2f24e8e36440d2ef,
        0x8581bdb0e4638052,
        0x811251f2b36cb9de,
        0x924482c89dfef6e2,
        0x45173b16c4cae1bb,
        0x8302ad49a2521dc1,
        0x31202e4bd486ce7f,
        0x9411823c59ec58ef,
    ],
];
