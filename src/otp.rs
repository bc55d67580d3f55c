//! Pure RFC 4226 / RFC 6238 code generation and matching, with time as an argument.
//!
//! Wraps `totp-rs` for the HMAC and truncation; adds the windowed, constant-time match the
//! domain needs. Imports: totp-rs, subtle, and `types` only. Never reads the clock.

use crate::types::{Algorithm, Code, Digits, Period};
use subtle::ConstantTimeEq;
use totp_rs::TOTP;

/// The parameters that, with a seed, define a token's codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OtpParams {
    /// HMAC algorithm.
    pub algorithm: Algorithm,
    /// Code length.
    pub digits: Digits,
    /// Step length.
    pub period: Period,
}

impl OtpParams {
    /// The RFC 6238 time step (T0 = 0) that contains `unix_secs`.
    pub fn step_at(&self, unix_secs: i64) -> i64 {
        unix_secs.div_euclid(i64::from(self.period.secs()))
    }

    fn totp(&self, seed: &[u8]) -> TOTP {
        let algorithm = match self.algorithm {
            Algorithm::SHA1 => totp_rs::Algorithm::SHA1,
            Algorithm::SHA256 => totp_rs::Algorithm::SHA256,
            Algorithm::SHA512 => totp_rs::Algorithm::SHA512,
        };
        // Unchecked: seed length policy belongs to the domain (imports refuse < 128 bits),
        // and the RFC vectors themselves use 20-byte seeds with every algorithm.
        TOTP::new_unchecked(
            algorithm,
            usize::from(self.digits.get()),
            0,
            u64::from(self.period.secs()),
            seed.to_vec(),
        )
    }

    /// The code for one time step. Steps before the epoch have no code.
    pub fn code_at_step(&self, seed: &[u8], step: i64) -> Option<String> {
        let step = u64::try_from(step).ok()?;
        Some(
            self.totp(seed)
                .generate(step * u64::from(self.period.secs())),
        )
    }

    /// Looks for `code` in the steps `center - window ..= center + window` and answers the
    /// newest step whose code equals it. Every step in the window is computed and compared
    /// in constant time, so the answer's timing does not tell which step matched.
    pub fn find_step(&self, seed: &[u8], code: &Code, center: i64, window: u32) -> Option<i64> {
        if code.as_str().len() != usize::from(self.digits.get()) {
            return None;
        }
        let totp = self.totp(seed);
        let period = u64::from(self.period.secs());
        let window = i64::from(window);
        let mut newest = None;
        for step in center - window..=center + window {
            let Ok(counter) = u64::try_from(step) else {
                continue;
            };
            let candidate = totp.generate(counter * period);
            if bool::from(candidate.as_bytes().ct_eq(code.as_str().as_bytes())) {
                newest = Some(step);
            }
        }
        newest
    }
}

impl OtpParams {
    /// Resynchronisation: looks for two consecutive steps `s, s + 1` within `center ±
    /// window` whose codes are `first` and `second`, and answers the newest such `s + 1`.
    pub fn find_pair(
        &self,
        seed: &[u8],
        first: &Code,
        second: &Code,
        center: i64,
        window: u32,
    ) -> Option<i64> {
        let totp = self.totp(seed);
        let period = u64::from(self.period.secs());
        let window = i64::from(window);
        let code_at = |step: i64| u64::try_from(step).ok().map(|c| totp.generate(c * period));
        let mut newest = None;
        let mut previous_matched = false;
        for step in center - window..=center + window + 1 {
            let Some(candidate) = code_at(step) else {
                continue;
            };
            let is_second = bool::from(candidate.as_bytes().ct_eq(second.as_str().as_bytes()));
            if previous_matched && is_second {
                newest = Some(step);
            }
            previous_matched = bool::from(candidate.as_bytes().ct_eq(first.as_str().as_bytes()));
        }
        newest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED20: &[u8] = b"12345678901234567890";
    const SEED32: &[u8] = b"12345678901234567890123456789012";
    const SEED64: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    fn params(algorithm: Algorithm, digits: u8) -> OtpParams {
        OtpParams {
            algorithm,
            digits: Digits::try_from(digits).unwrap(),
            period: Period::THIRTY,
        }
    }

    fn code_at(p: &OtpParams, seed: &[u8], t: i64) -> String {
        p.code_at_step(seed, p.step_at(t)).unwrap()
    }

    /// RFC 4226 Appendix D: HOTP is TOTP with the counter as the step (period 1 s would
    /// need a 1-second period, so drive the step directly).
    #[test]
    fn rfc4226_appendix_d_hotp_values() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        let p = params(Algorithm::SHA1, 6);
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(p.code_at_step(SEED20, counter as i64).unwrap(), *want);
        }
    }

    /// RFC 6238 Appendix B, every row, with the per-algorithm seeds of errata 2866.
    #[test]
    fn rfc6238_appendix_b_all_rows() {
        let rows: [(i64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for (t, sha1, sha256, sha512) in rows {
            assert_eq!(
                code_at(&params(Algorithm::SHA1, 8), SEED20, t),
                sha1,
                "t={t}"
            );
            assert_eq!(
                code_at(&params(Algorithm::SHA256, 8), SEED32, t),
                sha256,
                "t={t}"
            );
            assert_eq!(
                code_at(&params(Algorithm::SHA512, 8), SEED64, t),
                sha512,
                "t={t}"
            );
        }
    }

    #[test]
    fn six_digit_codes_keep_leading_zeros() {
        let p = params(Algorithm::SHA1, 6);
        assert_eq!(code_at(&p, SEED20, 1111111109), "081804");
        assert_eq!(code_at(&p, SEED20, 1234567890), "005924");
    }

    /// The wrong-seed trap of TEST-VECTORS.md: a SHA256 token holding the 32-byte seed must
    /// not produce the value that the truncated 20-byte seed would.
    #[test]
    fn sha256_with_its_own_seed_is_not_the_truncated_seed_value() {
        let p = params(Algorithm::SHA256, 8);
        assert_eq!(code_at(&p, SEED20, 59), "32247374");
        let wrong = Code::parse("32247374").unwrap();
        assert_eq!(p.find_step(SEED32, &wrong, 1, 1), None);
    }

    #[test]
    fn find_step_answers_the_matching_step_within_the_window_only() {
        let p = params(Algorithm::SHA1, 6);
        let center = p.step_at(1111111109);
        let next = Code::parse(&p.code_at_step(SEED20, center + 1).unwrap()).unwrap();
        assert_eq!(p.find_step(SEED20, &next, center, 1), Some(center + 1));
        let far = Code::parse(&p.code_at_step(SEED20, center + 2).unwrap()).unwrap();
        assert_eq!(p.find_step(SEED20, &far, center, 1), None);
        assert_eq!(p.find_step(SEED20, &far, center, 2), Some(center + 2));
    }

    #[test]
    fn a_code_of_the_wrong_length_never_matches() {
        let p = params(Algorithm::SHA1, 8);
        let six = Code::parse("287082").unwrap();
        assert_eq!(p.find_step(SEED20, &six, 1, 1), None);
    }

    #[test]
    fn find_pair_locates_two_consecutive_codes_far_from_now() {
        let p = params(Algorithm::SHA1, 6);
        let now = p.step_at(1111111109);
        let c1 = Code::parse(&p.code_at_step(SEED20, now + 40).unwrap()).unwrap();
        let c2 = Code::parse(&p.code_at_step(SEED20, now + 41).unwrap()).unwrap();
        assert_eq!(p.find_pair(SEED20, &c1, &c2, now, 100), Some(now + 41));
        assert_eq!(
            p.find_pair(SEED20, &c2, &c1, now, 100),
            None,
            "order matters"
        );
        assert_eq!(
            p.find_pair(SEED20, &c1, &c2, now, 30),
            None,
            "outside the search"
        );
    }

    /// The pyotp vectors: an independent implementation's published outputs.
    #[test]
    fn pyotp_published_vectors() {
        let p = params(Algorithm::SHA1, 6);
        let seed = base32::decode(
            base32::Alphabet::Rfc4648 { padding: false },
            "WRN3PQX5UQXQVNQR",
        )
        .unwrap();
        assert_eq!(code_at(&p, &seed, 1297553958), "102705");
        assert_eq!(code_at(&p, &seed, 1297553958 + 30), "709182");
    }
}
