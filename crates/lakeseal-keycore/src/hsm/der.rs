//! The few DER shapes the token's answers need: an EC public point as SubjectPublicKeyInfo,
//! and ECDSA's raw r‖s as the `Ecdsa-Sig-Value` SEQUENCE that AWS KMS returns.
//!
//! Written by hand: each is a fixed prefix or two short INTEGERs (every length fits one byte
//! for P-256 and P-384), smaller than the glue a general DER crate would need here.

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
    der.push(0x30);
    // At most 2 × (2 + 49) = 102 bytes: a one-byte length.
    der.push(body.len() as u8);
    der.extend_from_slice(&body);
    Ok(der)
}

/// A non-negative big-endian integer: no leading zeros, and a zero byte before a high bit.
fn integer(out: &mut Vec<u8>, value: &[u8]) {
    let start = value
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(value.len() - 1);
    let value = &value[start..];
    let pad = value[0] & 0x80 != 0;
    out.push(0x02);
    out.push((value.len() + usize::from(pad)) as u8);
    if pad {
        out.push(0);
    }
    out.extend_from_slice(value);
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
