//! PBKDF2-HMAC-SHA512 with the empty password, one 64-byte block per job, many
//! jobs at once.
//!
//! Proving or refuting an empty macOS password costs the record's own iteration
//! count (tens of thousands) of HMAC-SHA512 per 64-byte block: most of a Mac's
//! collection time. The iterations of one block are a chain (each HMAC hashes the
//! previous one's output), but the blocks of different accounts are independent.
//! Where the processor has AVX-512 (x86_64 servers and this project's CI machines),
//! four blocks run side by side in the four 64-bit lanes of a 256-bit vector, in
//! less time than one alone; elsewhere (Apple silicon, whose SHA-512
//! instructions the `sha2` crate uses; older x86_64) each block is derived alone
//! with the `hmac` and `sha2` crates, the jobs shared among the cores.
//!
//! With the empty password the HMAC key is empty, so every iteration after the
//! first hashes one fixed-size message from two fixed states: the inner state after
//! the 128-byte `0x36` pad and the outer after the `0x5c` pad (RFC 2104). An
//! iteration is then exactly two SHA-512 compressions (FIPS 180-4, 6.4) of a
//! one-block message: the previous 64-byte output, `0x80`, zeros and the bit length
//! 1,536 (pad block + 64 bytes).
//!
//! Derived bytes are secrets of the account (they equal the stored `entropy` when
//! the password is empty): callers overwrite them once compared.

use hmac::{Hmac, Mac};

/// One hash length: the block a job derives.
pub const BLOCK: usize = 64;

/// One block to derive: block `index` (from 1) of PBKDF2-HMAC-SHA512 with the
/// empty password over `salt` at `iterations` (≥ 1).
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    pub salt: &'a [u8],
    pub iterations: u32,
    pub index: u32,
}

/// How many jobs one pass derives side by side: 4 where the processor has
/// AVX-512F and AVX-512VL, in an optimized build; 1 otherwise. An unoptimized build
/// (`cargo test`, the e2e tests) calls each vector instruction as a function, which
/// makes a pass a hundred times slower than the `sha2` crate (built optimized in
/// every profile); its unit tests still run the lanes ([`wide_supported`]).
pub fn lanes() -> usize {
    if cfg!(debug_assertions) {
        return 1;
    }
    #[cfg(target_arch = "x86_64")]
    if wide_supported() {
        return wide::LANES;
    }
    1
}

/// Whether the running processor has what the lanes need.
#[cfg(target_arch = "x86_64")]
fn wide_supported() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
}

/// Derives every job's block, in the order of `jobs`, on up to as many threads as
/// the machine has cores.
pub fn blocks(jobs: &[Job<'_>]) -> Vec<[u8; BLOCK]> {
    let lanes = lanes();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    // As many shares as passes, up to one per core, and as even as they go: 6 jobs
    // on 2 cores with 4 lanes are two shares of 3 (one pass each); 2 jobs are one
    // share (a pass of 2 costs what a pass of 1 does); without lanes, one job per
    // core at a time.
    let shares = cores.min(jobs.len().div_ceil(lanes)).max(1);
    let per_share = jobs.len().div_ceil(shares);
    if shares == 1 {
        return derive_share(jobs, lanes);
    }
    let chunks: Vec<&[Job<'_>]> = jobs.chunks(per_share).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| scope.spawn(move || derive_share(chunk, lanes)))
            .collect();
        let mut out = Vec::with_capacity(jobs.len());
        for (handle, chunk) in handles.into_iter().zip(&chunks) {
            match handle.join() {
                Ok(done) => out.extend(done),
                // A worker cannot panic (no indexing out of range, no unwrap); were
                // it to, its jobs are derived again here rather than lost.
                Err(_) => out.extend(derive_share(chunk, 1)),
            }
        }
        out
    })
}

/// The jobs of one thread: in passes of `lanes` when wide, one by one otherwise.
fn derive_share(jobs: &[Job<'_>], lanes: usize) -> Vec<[u8; BLOCK]> {
    #[cfg(target_arch = "x86_64")]
    if lanes == wide::LANES {
        return jobs.chunks(wide::LANES).flat_map(wide::derive).collect();
    }
    let _ = lanes;
    jobs.iter().map(one).collect()
}

/// One block, by the `hmac` and `sha2` crates (RFC 8018, 5.2: `U1 = HMAC(P, S ||
/// INT(i))`, `Uj = HMAC(P, Uj-1)`, the block is their XOR).
pub fn one(job: &Job<'_>) -> [u8; BLOCK] {
    let keyed = empty_key();
    let mut u = first_u(&keyed, job);
    let mut block = u;
    for _ in 1..job.iterations {
        let mut mac = keyed.clone();
        mac.update(&u);
        u = mac.finalize().into_bytes().into();
        for (b, x) in block.iter_mut().zip(u.iter()) {
            *b ^= x;
        }
    }
    u.fill(0);
    std::hint::black_box(&u);
    block
}

fn empty_key() -> Hmac<sha2::Sha512> {
    // The empty key: any length is a valid HMAC key.
    <Hmac<sha2::Sha512> as hmac::digest::KeyInit>::new_from_slice(b"")
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
}

/// `U1 = HMAC("", salt || INT(index))`: the salt has any length, so the first
/// iteration is always the crate's.
fn first_u(keyed: &Hmac<sha2::Sha512>, job: &Job<'_>) -> [u8; BLOCK] {
    let mut mac = keyed.clone();
    mac.update(job.salt);
    mac.update(&job.index.to_be_bytes());
    mac.finalize().into_bytes().into()
}

/// The SHA-512 state after compressing one 128-byte block of `pad` from the
/// initial value: HMAC's inner (`0x36`) or outer (`0x5c`) state for the empty key.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn pad_state(pad: u8) -> [u64; 8] {
    let mut state = IV;
    let block = sha2::digest::generic_array::GenericArray::from([pad; 128]);
    sha2::compress512(&mut state, &[block]);
    state
}

/// FIPS 180-4, 5.3.5.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const IV: [u64; 8] = [
    0x6a09e667f3bcc908,
    0xbb67ae8584caa73b,
    0x3c6ef372fe94f82b,
    0xa54ff53a5f1d36f1,
    0x510e527fade682d1,
    0x9b05688c2b3e6c1f,
    0x1f83d9abfb41bd6b,
    0x5be0cd19137e2179,
];

/// FIPS 180-4, 4.2.3.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const K: [u64; 80] = [
    0x428a2f98d728ae22,
    0x7137449123ef65cd,
    0xb5c0fbcfec4d3b2f,
    0xe9b5dba58189dbbc,
    0x3956c25bf348b538,
    0x59f111f1b605d019,
    0x923f82a4af194f9b,
    0xab1c5ed5da6d8118,
    0xd807aa98a3030242,
    0x12835b0145706fbe,
    0x243185be4ee4b28c,
    0x550c7dc3d5ffb4e2,
    0x72be5d74f27b896f,
    0x80deb1fe3b1696b1,
    0x9bdc06a725c71235,
    0xc19bf174cf692694,
    0xe49b69c19ef14ad2,
    0xefbe4786384f25e3,
    0x0fc19dc68b8cd5b5,
    0x240ca1cc77ac9c65,
    0x2de92c6f592b0275,
    0x4a7484aa6ea6e483,
    0x5cb0a9dcbd41fbd4,
    0x76f988da831153b5,
    0x983e5152ee66dfab,
    0xa831c66d2db43210,
    0xb00327c898fb213f,
    0xbf597fc7beef0ee4,
    0xc6e00bf33da88fc2,
    0xd5a79147930aa725,
    0x06ca6351e003826f,
    0x142929670a0e6e70,
    0x27b70a8546d22ffc,
    0x2e1b21385c26c926,
    0x4d2c6dfc5ac42aed,
    0x53380d139d95b3df,
    0x650a73548baf63de,
    0x766a0abb3c77b2a8,
    0x81c2c92e47edaee6,
    0x92722c851482353b,
    0xa2bfe8a14cf10364,
    0xa81a664bbc423001,
    0xc24b8b70d0f89791,
    0xc76c51a30654be30,
    0xd192e819d6ef5218,
    0xd69906245565a910,
    0xf40e35855771202a,
    0x106aa07032bbd1b8,
    0x19a4c116b8d2d0c8,
    0x1e376c085141ab53,
    0x2748774cdf8eeb99,
    0x34b0bcb5e19b48a8,
    0x391c0cb3c5c95a63,
    0x4ed8aa4ae3418acb,
    0x5b9cca4f7763e373,
    0x682e6ff3d6b2b8a3,
    0x748f82ee5defb2fc,
    0x78a5636f43172f60,
    0x84c87814a1f0ab72,
    0x8cc702081a6439ec,
    0x90befffa23631e28,
    0xa4506cebde82bde9,
    0xbef9a3f7b2c67915,
    0xc67178f2e372532b,
    0xca273eceea26619c,
    0xd186b8c721c0c207,
    0xeada7dd6cde0eb1e,
    0xf57d4f7fee6ed178,
    0x06f067aa72176fba,
    0x0a637dc5a2c898a6,
    0x113f9804bef90dae,
    0x1b710b35131c471b,
    0x28db77f523047d84,
    0x32caab7b40c72493,
    0x3c9ebe0a15c9bebc,
    0x431d67c49c100d4c,
    0x4cc5d4becb3e42b6,
    0x597f299cfc657e2a,
    0x5fcb6fab3ad6faec,
    0x6c44198c4a475817,
];

/// Four lanes of a 256-bit vector, with AVX-512VL's rotate and three-input logic
/// (one instruction each, where AVX2 needs three for a rotate): lane *l* of vector
/// *i* holds word *i* of job *l*. Four lanes, not the eight of a 512-bit vector:
/// on processors that run 512-bit instructions as two halves (AMD Zen 4, this
/// project's CI machines) a pass of eight takes a third longer than a pass of four
/// and the cores are fewer than the passes (docs/benchmarks.md).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod wide {
    use super::{BLOCK, Job, K, empty_key, first_u, pad_state};
    use std::arch::x86_64::{
        __m256i, _mm256_add_epi64, _mm256_cmplt_epu64_mask, _mm256_mask_xor_epi64,
        _mm256_ror_epi64, _mm256_set1_epi64x, _mm256_setzero_si256, _mm256_srli_epi64,
        _mm256_ternarylogic_epi64,
    };

    pub const LANES: usize = 4;

    /// Up to [`LANES`] jobs in one pass. Lanes without a job run on zeros and are
    /// dropped; a lane whose job has fewer iterations than the longest stops adding
    /// to its block once its count is reached.
    pub fn derive(jobs: &[Job<'_>]) -> Vec<[u8; BLOCK]> {
        debug_assert!(jobs.len() <= LANES);
        let keyed = empty_key();
        let mut u = [[0u64; 8]; LANES];
        let mut iterations = [0u64; LANES];
        for (lane, job) in jobs.iter().enumerate().take(LANES) {
            let mut bytes = first_u(&keyed, job);
            for (word, chunk) in u[lane].iter_mut().zip(bytes.chunks_exact(8)) {
                let mut b = [0u8; 8];
                b.copy_from_slice(chunk);
                *word = u64::from_be_bytes(b);
            }
            bytes.fill(0);
            iterations[lane] = u64::from(job.iterations);
        }
        let inner = pad_state(0x36);
        let outer = pad_state(0x5c);
        let rounds = jobs.iter().map(|j| j.iterations).max().unwrap_or(0);
        // SAFETY: `derive` is only reached from `derive_share` with `lanes ==
        // LANES`, which is passed only where `wide_supported()` found AVX-512F and
        // AVX-512VL on the running processor (`lanes()`, and the tests).
        let mut words = unsafe { iterate(u, iterations, rounds, inner, outer) };
        let out = jobs
            .iter()
            .enumerate()
            .map(|(lane, _)| {
                let mut block = [0u8; BLOCK];
                for (chunk, word) in block.chunks_exact_mut(8).zip(words[lane].iter()) {
                    chunk.copy_from_slice(&word.to_be_bytes());
                }
                block
            })
            .collect();
        for lane in words.iter_mut() {
            lane.fill(0);
        }
        std::hint::black_box(&words);
        out
    }

    /// Iterations 2 to `rounds` of every lane; returns each lane's block as words.
    #[target_feature(enable = "avx512f,avx512vl")]
    fn iterate(
        u: [[u64; 8]; LANES],
        iterations: [u64; LANES],
        rounds: u32,
        inner: [u64; 8],
        outer: [u64; 8],
    ) -> [[u64; 8]; LANES] {
        let mut u: [__m256i; 8] = std::array::from_fn(|i| gather(&u, i));
        let mut block = u;
        let counts = from_lanes(iterations);
        let inner = inner.map(|x| broadcast(x));
        let outer = outer.map(|x| broadcast(x));
        for j in 2..=u64::from(rounds) {
            // Lanes still counting: j ≤ their iterations.
            let live = _mm256_cmplt_epu64_mask(broadcast(j - 1), counts);
            let h = compress(&inner, &u);
            u = compress(&outer, &h);
            for (b, x) in block.iter_mut().zip(u.iter()) {
                *b = _mm256_mask_xor_epi64(*b, live, *b, *x);
            }
        }
        let lanes: [[u64; LANES]; 8] = block.map(to_lanes);
        std::array::from_fn(|lane| std::array::from_fn(|i| lanes[i][lane]))
    }

    /// One SHA-512 compression of the one-block message `words ‖ 0x80 ‖ 0… ‖
    /// 1536` from `state`, with the feed-forward: the digest of HMAC's inner or
    /// outer hash.
    #[target_feature(enable = "avx512f,avx512vl")]
    #[inline]
    fn compress(state: &[__m256i; 8], words: &[__m256i; 8]) -> [__m256i; 8] {
        let mut w = [_mm256_setzero_si256(); 16];
        w[..8].copy_from_slice(words);
        w[8] = broadcast(0x8000_0000_0000_0000);
        w[15] = broadcast(1536);
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
        for (t, k) in K.iter().enumerate() {
            if t >= 16 {
                let w15 = w[(t + 1) % 16];
                let w2 = w[(t + 14) % 16];
                let s0 = xor3(
                    _mm256_ror_epi64::<1>(w15),
                    _mm256_ror_epi64::<8>(w15),
                    _mm256_srli_epi64::<7>(w15),
                );
                let s1 = xor3(
                    _mm256_ror_epi64::<19>(w2),
                    _mm256_ror_epi64::<61>(w2),
                    _mm256_srli_epi64::<6>(w2),
                );
                w[t % 16] = add(add(w[t % 16], s0), add(w[(t + 9) % 16], s1));
            }
            let big_s1 = xor3(
                _mm256_ror_epi64::<14>(e),
                _mm256_ror_epi64::<18>(e),
                _mm256_ror_epi64::<41>(e),
            );
            // Ch(e, f, g) = e ? f : g.
            let ch = _mm256_ternarylogic_epi64::<0xCA>(e, f, g);
            let t1 = add(add(h, big_s1), add(ch, add(broadcast(*k), w[t % 16])));
            let big_s0 = xor3(
                _mm256_ror_epi64::<28>(a),
                _mm256_ror_epi64::<34>(a),
                _mm256_ror_epi64::<39>(a),
            );
            // Maj(a, b, c): the majority of the three bits.
            let maj = _mm256_ternarylogic_epi64::<0xE8>(a, b, c);
            let t2 = add(big_s0, maj);
            h = g;
            g = f;
            f = e;
            e = add(d, t1);
            d = c;
            c = b;
            b = a;
            a = add(t1, t2);
        }
        let out = [a, b, c, d, e, f, g, h];
        std::array::from_fn(|i| add(state[i], out[i]))
    }

    #[target_feature(enable = "avx512f,avx512vl")]
    #[inline]
    fn xor3(x: __m256i, y: __m256i, z: __m256i) -> __m256i {
        _mm256_ternarylogic_epi64::<0x96>(x, y, z)
    }

    #[target_feature(enable = "avx512f,avx512vl")]
    #[inline]
    fn add(x: __m256i, y: __m256i) -> __m256i {
        _mm256_add_epi64(x, y)
    }

    #[target_feature(enable = "avx512f,avx512vl")]
    #[inline]
    fn broadcast(x: u64) -> __m256i {
        _mm256_set1_epi64x(x as i64)
    }

    /// Word `i` of every lane, as one vector.
    #[target_feature(enable = "avx512f,avx512vl")]
    #[inline]
    fn gather(u: &[[u64; 8]; LANES], i: usize) -> __m256i {
        from_lanes(std::array::from_fn(|lane| u[lane][i]))
    }

    fn from_lanes(x: [u64; LANES]) -> __m256i {
        // SAFETY: `__m256i` is 32 bytes of plain integer data, as is `[u64; 4]`;
        // every bit pattern is valid for both.
        unsafe { std::mem::transmute::<[u64; LANES], __m256i>(x) }
    }

    fn to_lanes(x: __m256i) -> [u64; LANES] {
        // SAFETY: as in `from_lanes`.
        unsafe { std::mem::transmute::<__m256i, [u64; LANES]>(x) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crate_block(salt: &[u8], iterations: u32, index: u32) -> [u8; BLOCK] {
        let mut whole = [0u8; 2 * BLOCK];
        pbkdf2::pbkdf2_hmac::<sha2::Sha512>(b"", salt, iterations, &mut whole);
        let start = (index as usize - 1) * BLOCK;
        let mut out = [0u8; BLOCK];
        out.copy_from_slice(&whole[start..start + BLOCK]);
        out
    }

    /// Every job, alone or in a pass beside others with other salts, counts and
    /// indexes, equals its block of the `pbkdf2` crate's derivation: more jobs
    /// than one pass's lanes, uneven counts (1 to 2,000), both block indexes.
    #[test]
    fn every_block_equals_the_pbkdf2_crates() {
        let salts: Vec<Vec<u8>> = (0..19u8)
            .map(|i| (0..(i as usize * 7 % 40)).map(|b| b as u8 ^ i).collect())
            .collect();
        let jobs: Vec<Job<'_>> = salts
            .iter()
            .enumerate()
            .map(|(i, salt)| Job {
                salt,
                iterations: [1, 2, 3, 17, 1000, 2000, 999][i % 7],
                index: 1 + (i % 2) as u32,
            })
            .collect();
        let expected: Vec<[u8; BLOCK]> = jobs
            .iter()
            .map(|j| crate_block(j.salt, j.iterations, j.index))
            .collect();
        assert_eq!(jobs.iter().map(one).collect::<Vec<_>>(), expected);
        assert_eq!(blocks(&jobs), expected);
        assert!(blocks(&[]).is_empty());
        #[cfg(target_arch = "x86_64")]
        if wide_supported() {
            assert_eq!(derive_share(&jobs, wide::LANES), expected);
            // Each pass size from one job to a full pass and one more, alone.
            for n in 1..=wide::LANES + 1 {
                assert_eq!(
                    derive_share(&jobs[..n], wide::LANES),
                    expected[..n],
                    "{n} jobs"
                );
            }
        } else {
            eprintln!("no AVX-512F/VL here: the lanes are not tested on this processor");
        }
    }

    /// The two pads' states are HMAC's: one inner iteration over a known message
    /// through them equals the `hmac` crate's HMAC with the empty key.
    #[test]
    fn the_pad_states_are_the_empty_keys() {
        let message = [0x5au8; BLOCK];
        let mut mac = empty_key();
        mac.update(&message);
        let expected: [u8; BLOCK] = mac.finalize().into_bytes().into();
        let compress = |state: [u64; 8], words: &[u8]| {
            let mut block = [0u8; 128];
            block[..BLOCK].copy_from_slice(words);
            block[BLOCK] = 0x80;
            block[120..].copy_from_slice(&1536u64.to_be_bytes());
            let mut s = state;
            sha2::compress512(&mut s, &[block.into()]);
            let mut out = [0u8; BLOCK];
            for (chunk, word) in out.chunks_exact_mut(8).zip(s) {
                chunk.copy_from_slice(&word.to_be_bytes());
            }
            out
        };
        let inner = compress(pad_state(0x36), &message);
        assert_eq!(compress(pad_state(0x5c), &inner), expected);
    }

    /// An optimized build on a wide processor runs four lanes a pass, any other
    /// one; the line printed says which path this machine takes.
    #[test]
    fn the_lane_count_follows_the_processor_and_the_build() {
        let lanes = lanes();
        eprintln!("PBKDF2 lanes in this build on this processor: {lanes}");
        #[cfg(target_arch = "x86_64")]
        assert_eq!(lanes == 4, wide_supported() && !cfg!(debug_assertions));
        #[cfg(not(target_arch = "x86_64"))]
        assert_eq!(lanes, 1);
    }
}

#[cfg(test)]
mod timing {
    use super::*;

    /// Prints the time of one pass of 1 to 8 jobs (41,211 iterations, a real Mac's
    /// count) and of the same blocks one by one: `cargo test --release -p
    /// attest-agent --lib derive::timing -- --ignored --nocapture`.
    #[test]
    #[ignore = "prints figures; run by hand"]
    fn pass_timing() {
        let salt = [9u8; 32];
        for n in [1usize, 2, 3, 4, 6, 8] {
            let jobs: Vec<Job<'_>> = (0..n)
                .map(|i| Job {
                    salt: &salt,
                    iterations: 41_211,
                    index: 1 + (i % 2) as u32,
                })
                .collect();
            let t = std::time::Instant::now();
            let wide = derive_share(&jobs, lanes());
            let pass = t.elapsed();
            let t = std::time::Instant::now();
            let alone: Vec<_> = jobs.iter().map(one).collect();
            let scalar = t.elapsed();
            assert_eq!(wide, alone);
            eprintln!(
                "{n} jobs: one thread, {} lanes: {:.1} ms; one by one: {:.1} ms",
                lanes(),
                pass.as_secs_f64() * 1e3,
                scalar.as_secs_f64() * 1e3
            );
        }
    }
}
