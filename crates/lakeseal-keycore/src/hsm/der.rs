//! The few DER shapes the token's answers need: an EC public point or an RSA modulus and
//! exponent as SubjectPublicKeyInfo, ECDSA's raw r‖s as the `Ecdsa-Sig-Value` SEQUENCE that
//! AWS KMS returns, and the `DigestInfo` that PKCS#1 v1.5 signs.
//!
//! Written by hand: each is a fixed prefix, or a SEQUENCE of two INTEGERs — smaller than the
//! glue a general DER crate would need here.

use crate::key_spec::KeySpec;
use crate::{Error, Result};

/// A named curve: its `CKA_EC_PARAMS` and the SubjectPublicKeyInfo prefix of its points.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Curve {
    /// The curve's OID, DER: what `CKA_EC_PARAMS` holds.
    pub(crate) params: &'static [u8],
    /// SEQUENCE { AlgorithmIdentifier { id-ecPublicKey, curve }, BIT STRING header }.
    spki_prefix: &'static [u8],
    /// An uncompressed point's length: 0x04, X, Y.
    point_len: usize,
    /// The length of r and of s.
    scalar_len: usize,
}

const P256: Curve = Curve {
    // 1.2.840.10045.3.1.7
    params: &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
    spki_prefix: &[
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ],
    point_len: 65,
    scalar_len: 32,
};

const P384: Curve = Curve {
    // 1.3.132.0.34
    params: &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
    spki_prefix: &[
        0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05,
        0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
    ],
    point_len: 97,
    scalar_len: 48,
};

/// The curve of an ECC key spec.
pub(crate) fn curve(spec: KeySpec) -> Option<Curve> {
    match spec {
        KeySpec::EccNistP256 => Some(P256),
        KeySpec::EccNistP384 => Some(P384),
        _ => None,
    }
}

/// The SubjectPublicKeyInfo of a token's `CKA_EC_POINT`: an OCTET STRING around the point
/// (as PKCS#11 says), or the bare point (as some modules give).
pub(crate) fn ec_spki(curve: Curve, ec_point: &[u8]) -> Result<Vec<u8>> {
    let point = match ec_point {
        [0x04, len, point @ ..]
            if usize::from(*len) == curve.point_len && point.len() == *len as usize =>
        {
            point
        }
        point if point.len() == curve.point_len => point,
        _ => {
            return Err(Error::Internal(format!(
                "the token's CKA_EC_POINT is {} bytes, not a point of this curve",
                ec_point.len()
            )));
        }
    };
    if point.first() != Some(&0x04) {
        return Err(Error::Internal(
            "the token's EC point is not uncompressed".into(),
        ));
    }
    let mut der = Vec::with_capacity(curve.spki_prefix.len() + point.len());
    der.extend_from_slice(curve.spki_prefix);
    der.extend_from_slice(point);
    Ok(der)
}

/// rsaEncryption's AlgorithmIdentifier: SEQUENCE { OID 1.2.840.113549.1.1.1, NULL }.
const RSA_ALGORITHM: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

/// The SubjectPublicKeyInfo of an RSA key from its token attributes (`CKA_MODULUS`,
/// `CKA_PUBLIC_EXPONENT`, big-endian).
pub(crate) fn rsa_spki(modulus: &[u8], exponent: &[u8]) -> Result<Vec<u8>> {
    if modulus.is_empty() || exponent.is_empty() {
        return Err(Error::Internal(
            "the token gave an empty RSA modulus or exponent".into(),
        ));
    }
    let mut key = Vec::with_capacity(modulus.len() + exponent.len() + 16);
    integer(&mut key, modulus);
    integer(&mut key, exponent);
    let mut bits = vec![0x00]; // no unused bits
    tlv(&mut bits, 0x30, &key);
    let mut body = RSA_ALGORITHM.to_vec();
    tlv(&mut body, 0x03, &bits);
    let mut der = Vec::with_capacity(body.len() + 4);
    tlv(&mut der, 0x30, &body);
    Ok(der)
}

/// What PKCS#1 v1.5 signs: the `DigestInfo` of `digest`, by its length (SHA-256, -384, -512).
pub(crate) fn digest_info(digest: &[u8]) -> Result<Vec<u8>> {
    // SEQUENCE { AlgorithmIdentifier { id-sha*, NULL }, OCTET STRING digest }, up to the digest.
    let prefix: &[u8] = match digest.len() {
        32 => &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
        48 => &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
        64 => &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
        n => {
            return Err(Error::Internal(format!(
                "no DigestInfo for a {n}-byte digest"
            )));
        }
    };
    let mut info = prefix.to_vec();
    info.extend_from_slice(digest);
    Ok(info)
}

/// ECDSA's raw r‖s (each half the length) as DER: SEQUENCE { INTEGER r, INTEGER s }.
pub(crate) fn ecdsa_signature(raw: &[u8]) -> Result<Vec<u8>> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) || raw.len() > 2 * P384.scalar_len {
        return Err(Error::Internal(format!(
            "the token's ECDSA signature is {} bytes, not r‖s",
            raw.len()
        )));
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let mut body = Vec::with_capacity(raw.len() + 6);
    integer(&mut body, r);
    integer(&mut body, s);
    let mut der = Vec::with_capacity(body.len() + 2);
    tlv(&mut der, 0x30, &body);
    Ok(der)
}

/// A tag, its length (short form below 128, else long form) and `content`.
fn tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

/// A non-negative big-endian integer: no leading zeros, and a zero byte before a high bit.
fn integer(out: &mut Vec<u8>, value: &[u8]) {
    let start = value
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(value.len() - 1);
    let value = &value[start..];
    if value[0] & 0x80 != 0 {
        let mut padded = Vec::with_capacity(value.len() + 1);
        padded.push(0);
        padded.extend_from_slice(value);
        tlv(out, 0x02, &padded);
    } else {
        tlv(out, 0x02, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_minimal_der_integers() {
        let mut raw = [0u8; 64];
        raw[0] = 0x80; // r needs a zero byte in front
        raw[33] = 0x01; // s has one leading zero byte to drop
        let der = ecdsa_signature(&raw).unwrap();
        assert_eq!(&der[..5], &[0x30, 0x44, 0x02, 0x21, 0x00]);
        assert_eq!(&der[37..39], &[0x02, 0x1f]);
        assert_eq!(der.len(), 2 + 35 + 33);
        // A zero half is one zero byte.
        let der = ecdsa_signature(&[0u8; 64]).unwrap();
        assert_eq!(der, [0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]);
        assert!(ecdsa_signature(&[1u8; 63]).is_err());
        assert!(ecdsa_signature(&[]).is_err());
    }

    #[test]
    fn rsa_public_keys_parse_as_aws_lc_rs_writes_them() {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::{KeyPair, RsaKeyPair};
        let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let public = pair.public_key();
        let expected = public.as_der().unwrap();
        // The RSAPublicKey's two INTEGERs, as a token would give them (no sign byte).
        let (_, key, _) = read_tlv(public.as_ref());
        let (_, modulus, rest) = read_tlv(key);
        let (_, exponent, _) = read_tlv(rest);
        fn strip(v: &[u8]) -> &[u8] {
            v.strip_prefix(&[0]).unwrap_or(v)
        }
        let spki = rsa_spki(strip(modulus), strip(exponent)).unwrap();
        assert_eq!(spki, expected.as_ref());
    }

    /// Test-only: one TLV's tag, content and what follows it.
    fn read_tlv(bytes: &[u8]) -> (u8, &[u8], &[u8]) {
        let (len, header) = match bytes[1] {
            n if n < 0x80 => (usize::from(n), 2),
            n => {
                let count = usize::from(n & 0x7f);
                let len = bytes[2..2 + count]
                    .iter()
                    .fold(0usize, |acc, b| acc << 8 | usize::from(*b));
                (len, 2 + count)
            }
        };
        (
            bytes[0],
            &bytes[header..header + len],
            &bytes[header + len..],
        )
    }

    #[test]
    fn long_lengths_use_the_long_form() {
        let mut out = Vec::new();
        tlv(&mut out, 0x04, &[0; 300]);
        assert_eq!(&out[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(digest_info(&[0; 32]).unwrap().len(), 51);
        assert!(digest_info(&[0; 20]).is_err());
    }

    #[test]
    fn points_become_spki_in_either_form() {
        let mut point = vec![0x04];
        point.extend([7u8; 64]);
        let mut wrapped = vec![0x04, 65];
        wrapped.extend(&point);
        let a = ec_spki(P256, &point).unwrap();
        let b = ec_spki(P256, &wrapped).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 91);
        assert!(ec_spki(P384, &point).is_err());
        assert!(ec_spki(P256, &point[..10]).is_err());
    }
}
