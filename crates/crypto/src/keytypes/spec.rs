//! Key specs, key usages, algorithms and grant operations as the KMS model
//! names them, and which of them AWS allows together. Pure tables, no crypto.

use std::fmt;

/// A KMS `KeySpec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeySpec {
    SymmetricDefault,
    Rsa2048,
    Rsa3072,
    Rsa4096,
    EccNistP256,
    EccNistP384,
    EccNistP521,
    EccSecgP256k1,
    EccNistEdwards25519,
    Sm2,
    Hmac224,
    Hmac256,
    Hmac384,
    Hmac512,
    MlDsa44,
    MlDsa65,
    MlDsa87,
    MlKem512,
    MlKem768,
    MlKem1024,
}

/// A KMS `KeyUsageType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyUsage {
    EncryptDecrypt,
    SignVerify,
    GenerateVerifyMac,
    KeyAgreement,
    EncapsulateDecapsulate,
}

/// A KMS `SigningAlgorithmSpec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    RsassaPssSha256,
    RsassaPssSha384,
    RsassaPssSha512,
    RsassaPkcs1V15Sha256,
    RsassaPkcs1V15Sha384,
    RsassaPkcs1V15Sha512,
    EcdsaSha256,
    EcdsaSha384,
    EcdsaSha512,
    Sm2Dsa,
    MlDsaShake256,
    Ed25519Sha512,
    Ed25519PhSha512,
}

/// A KMS `EncryptionAlgorithmSpec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncryptionAlgorithm {
    SymmetricDefault,
    RsaesOaepSha1,
    RsaesOaepSha256,
    Sm2Pke,
}

/// A KMS `MessageType` for Sign and Verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    Raw,
    Digest,
    ExternalMu,
}

/// A KMS `GrantOperation`: an operation a grant can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantOperation {
    Decrypt,
    Encrypt,
    GenerateDataKey,
    GenerateDataKeyWithoutPlaintext,
    ReEncryptFrom,
    ReEncryptTo,
    Sign,
    Verify,
    GetPublicKey,
    CreateGrant,
    RetireGrant,
    DescribeKey,
    GenerateDataKeyPair,
    GenerateDataKeyPairWithoutPlaintext,
    GenerateMac,
    VerifyMac,
    DeriveSharedSecret,
    Encapsulate,
    Decapsulate,
}

macro_rules! names {
    ($ty:ty { $($variant:ident = $name:literal),* $(,)? }) => {
        impl $ty {
            /// Every value, in the model's order.
            pub const ALL: &'static [$ty] = &[$(<$ty>::$variant),*];

            /// The value the model spells `name`.
            pub fn parse(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(<$ty>::$variant),)*
                    _ => None,
                }
            }

            /// The model's spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(<$ty>::$variant => $name,)*
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names!(KeySpec {
    SymmetricDefault = "SYMMETRIC_DEFAULT",
    Rsa2048 = "RSA_2048",
    Rsa3072 = "RSA_3072",
    Rsa4096 = "RSA_4096",
    EccNistP256 = "ECC_NIST_P256",
    EccNistP384 = "ECC_NIST_P384",
    EccNistP521 = "ECC_NIST_P521",
    EccSecgP256k1 = "ECC_SECG_P256K1",
    EccNistEdwards25519 = "ECC_NIST_EDWARDS25519",
    Sm2 = "SM2",
    Hmac224 = "HMAC_224",
    Hmac256 = "HMAC_256",
    Hmac384 = "HMAC_384",
    Hmac512 = "HMAC_512",
    MlDsa44 = "ML_DSA_44",
    MlDsa65 = "ML_DSA_65",
    MlDsa87 = "ML_DSA_87",
    MlKem512 = "ML_KEM_512",
    MlKem768 = "ML_KEM_768",
    MlKem1024 = "ML_KEM_1024",
});

names!(KeyUsage {
    EncryptDecrypt = "ENCRYPT_DECRYPT",
    SignVerify = "SIGN_VERIFY",
    GenerateVerifyMac = "GENERATE_VERIFY_MAC",
    KeyAgreement = "KEY_AGREEMENT",
    EncapsulateDecapsulate = "ENCAPSULATE_DECAPSULATE",
});

names!(SigningAlgorithm {
    RsassaPssSha256 = "RSASSA_PSS_SHA_256",
    RsassaPssSha384 = "RSASSA_PSS_SHA_384",
    RsassaPssSha512 = "RSASSA_PSS_SHA_512",
    RsassaPkcs1V15Sha256 = "RSASSA_PKCS1_V1_5_SHA_256",
    RsassaPkcs1V15Sha384 = "RSASSA_PKCS1_V1_5_SHA_384",
    RsassaPkcs1V15Sha512 = "RSASSA_PKCS1_V1_5_SHA_512",
    EcdsaSha256 = "ECDSA_SHA_256",
    EcdsaSha384 = "ECDSA_SHA_384",
    EcdsaSha512 = "ECDSA_SHA_512",
    Sm2Dsa = "SM2DSA",
    MlDsaShake256 = "ML_DSA_SHAKE_256",
    Ed25519Sha512 = "ED25519_SHA_512",
    Ed25519PhSha512 = "ED25519_PH_SHA_512",
});

names!(EncryptionAlgorithm {
    SymmetricDefault = "SYMMETRIC_DEFAULT",
    RsaesOaepSha1 = "RSAES_OAEP_SHA_1",
    RsaesOaepSha256 = "RSAES_OAEP_SHA_256",
    Sm2Pke = "SM2PKE",
});

names!(GrantOperation {
    Decrypt = "Decrypt",
    Encrypt = "Encrypt",
    GenerateDataKey = "GenerateDataKey",
    GenerateDataKeyWithoutPlaintext = "GenerateDataKeyWithoutPlaintext",
    ReEncryptFrom = "ReEncryptFrom",
    ReEncryptTo = "ReEncryptTo",
    Sign = "Sign",
    Verify = "Verify",
    GetPublicKey = "GetPublicKey",
    CreateGrant = "CreateGrant",
    RetireGrant = "RetireGrant",
    DescribeKey = "DescribeKey",
    GenerateDataKeyPair = "GenerateDataKeyPair",
    GenerateDataKeyPairWithoutPlaintext = "GenerateDataKeyPairWithoutPlaintext",
    GenerateMac = "GenerateMac",
    VerifyMac = "VerifyMac",
    DeriveSharedSecret = "DeriveSharedSecret",
    Encapsulate = "Encapsulate",
    Decapsulate = "Decapsulate",
});

names!(MessageType {
    Raw = "RAW",
    Digest = "DIGEST",
    ExternalMu = "EXTERNAL_MU",
});

use KeySpec::*;
use SigningAlgorithm::*;

const RSA_SIGNING: &[SigningAlgorithm] = &[
    RsassaPssSha256,
    RsassaPssSha384,
    RsassaPssSha512,
    RsassaPkcs1V15Sha256,
    RsassaPkcs1V15Sha384,
    RsassaPkcs1V15Sha512,
];

impl KeySpec {
    /// The key usages AWS allows for this spec (CreateKey refuses others).
    pub fn usages(self) -> &'static [KeyUsage] {
        use KeyUsage::*;
        match self {
            SymmetricDefault => &[EncryptDecrypt],
            Rsa2048 | Rsa3072 | Rsa4096 => &[EncryptDecrypt, SignVerify],
            EccNistP256 | EccNistP384 | EccNistP521 => &[SignVerify, KeyAgreement],
            EccSecgP256k1 | EccNistEdwards25519 | MlDsa44 | MlDsa65 | MlDsa87 => &[SignVerify],
            Sm2 => &[EncryptDecrypt, SignVerify, KeyAgreement],
            Hmac224 | Hmac256 | Hmac384 | Hmac512 => &[GenerateVerifyMac],
            MlKem512 | MlKem768 | MlKem1024 => &[EncapsulateDecapsulate],
        }
    }

    /// Whether this spec is one of the HMAC specs.
    pub fn is_hmac(self) -> bool {
        matches!(self, Hmac224 | Hmac256 | Hmac384 | Hmac512)
    }

    /// Whether a key of this spec has a public key (GetPublicKey works).
    pub fn is_asymmetric(self) -> bool {
        !matches!(self, SymmetricDefault) && !self.is_hmac()
    }

    /// `SigningAlgorithms` of a key with this spec and usage.
    pub fn signing_algorithms(self, usage: KeyUsage) -> &'static [SigningAlgorithm] {
        if usage != KeyUsage::SignVerify {
            return &[];
        }
        match self {
            Rsa2048 | Rsa3072 | Rsa4096 => RSA_SIGNING,
            EccNistP256 | EccSecgP256k1 => &[EcdsaSha256],
            EccNistP384 => &[EcdsaSha384],
            EccNistP521 => &[EcdsaSha512],
            EccNistEdwards25519 => &[Ed25519Sha512, Ed25519PhSha512],
            Sm2 => &[Sm2Dsa],
            MlDsa44 | MlDsa65 | MlDsa87 => &[MlDsaShake256],
            _ => &[],
        }
    }

    /// `EncryptionAlgorithms` of a key with this spec and usage.
    pub fn encryption_algorithms(self, usage: KeyUsage) -> &'static [EncryptionAlgorithm] {
        use EncryptionAlgorithm::*;
        if usage != KeyUsage::EncryptDecrypt {
            return &[];
        }
        match self {
            KeySpec::SymmetricDefault => &[EncryptionAlgorithm::SymmetricDefault],
            Rsa2048 | Rsa3072 | Rsa4096 => &[RsaesOaepSha1, RsaesOaepSha256],
            Sm2 => &[Sm2Pke],
            _ => &[],
        }
    }

    /// `MacAlgorithms` of a key with this spec (HMAC keys only).
    pub fn mac_algorithm(self) -> Option<&'static str> {
        match self {
            Hmac224 => Some("HMAC_SHA_224"),
            Hmac256 => Some("HMAC_SHA_256"),
            Hmac384 => Some("HMAC_SHA_384"),
            Hmac512 => Some("HMAC_SHA_512"),
            _ => None,
        }
    }

    /// `KeyAgreementAlgorithms` of a key with this spec and usage.
    pub fn key_agreement_algorithms(self, usage: KeyUsage) -> &'static [&'static str] {
        if usage == KeyUsage::KeyAgreement {
            &["ECDH"]
        } else {
            &[]
        }
    }

    /// `EncapsulationAlgorithms` of a key with this spec and usage.
    pub fn encapsulation_algorithms(self, usage: KeyUsage) -> &'static [&'static str] {
        if usage == KeyUsage::EncapsulateDecapsulate {
            &["ML_KEM"]
        } else {
            &[]
        }
    }
}

impl SigningAlgorithm {
    /// The length a `DIGEST` message must have with this algorithm, or
    /// `None` where AWS does not take digests (ML-DSA, pure Ed25519).
    pub fn digest_len(self) -> Option<usize> {
        match self {
            RsassaPssSha256 | RsassaPkcs1V15Sha256 | EcdsaSha256 | Sm2Dsa => Some(32),
            RsassaPssSha384 | RsassaPkcs1V15Sha384 | EcdsaSha384 => Some(48),
            RsassaPssSha512 | RsassaPkcs1V15Sha512 | EcdsaSha512 | Ed25519PhSha512 => Some(64),
            MlDsaShake256 | Ed25519Sha512 => None,
        }
    }

    /// The message types AWS accepts with this algorithm.
    pub fn message_types(self) -> &'static [MessageType] {
        use MessageType::*;
        match self {
            Ed25519Sha512 => &[Raw],
            Ed25519PhSha512 => &[Digest],
            MlDsaShake256 => &[Raw, ExternalMu],
            _ => &[Raw, Digest],
        }
    }
}

impl GrantOperation {
    /// Whether a key of this spec and usage can do the operation, so that a
    /// grant on it may allow it (CreateGrant refuses one that does not:
    /// "the operation must be supported on the KMS key. For example, you
    /// cannot create a grant for a symmetric encryption KMS key that allows
    /// the Sign operation, or a grant for an asymmetric KMS key that allows
    /// the GenerateDataKey operation"). Which key types support which
    /// operation is AWS's key type table (developer guide, "Key type
    /// reference"): DescribeKey, CreateGrant and RetireGrant every key;
    /// data keys and data key pairs only symmetric encryption keys;
    /// Encrypt, Decrypt and ReEncrypt encryption keys, symmetric or not;
    /// GetPublicKey asymmetric keys; each other operation the one usage
    /// made for it.
    pub fn supported_by(self, spec: KeySpec, usage: KeyUsage) -> bool {
        use GrantOperation as G;
        match self {
            G::DescribeKey | G::CreateGrant | G::RetireGrant => true,
            G::GenerateDataKey
            | G::GenerateDataKeyWithoutPlaintext
            | G::GenerateDataKeyPair
            | G::GenerateDataKeyPairWithoutPlaintext => {
                spec == SymmetricDefault && usage == KeyUsage::EncryptDecrypt
            }
            G::Encrypt | G::Decrypt | G::ReEncryptFrom | G::ReEncryptTo => {
                usage == KeyUsage::EncryptDecrypt
            }
            G::GetPublicKey => spec.is_asymmetric(),
            G::Sign | G::Verify => usage == KeyUsage::SignVerify,
            G::GenerateMac | G::VerifyMac => usage == KeyUsage::GenerateVerifyMac,
            G::DeriveSharedSecret => usage == KeyUsage::KeyAgreement,
            G::Encapsulate | G::Decapsulate => usage == KeyUsage::EncapsulateDecapsulate,
        }
    }
}

/// Length of the `mu` message representative ML-DSA's EXTERNAL_MU signs.
pub const EXTERNAL_MU_LEN: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for spec in KeySpec::ALL {
            assert_eq!(KeySpec::parse(spec.as_str()), Some(*spec));
        }
        for alg in SigningAlgorithm::ALL {
            assert_eq!(SigningAlgorithm::parse(alg.as_str()), Some(*alg));
        }
        assert_eq!(KeySpec::ALL.len(), 20);
        assert_eq!(KeySpec::parse("RSA_1024"), None);
    }

    /// AWS's key type table, one column per kind of key, written out
    /// operation by operation: every grant operation against every spec and
    /// usage CreateKey allows.
    #[test]
    fn grant_operations_follow_the_key_type_table() {
        use GrantOperation as G;
        const EVERY_KEY: &[GrantOperation] = &[G::DescribeKey, G::CreateGrant, G::RetireGrant];
        let symmetric_encryption = [
            G::Encrypt,
            G::Decrypt,
            G::ReEncryptFrom,
            G::ReEncryptTo,
            G::GenerateDataKey,
            G::GenerateDataKeyWithoutPlaintext,
            G::GenerateDataKeyPair,
            G::GenerateDataKeyPairWithoutPlaintext,
        ];
        let asymmetric_encryption = [
            G::Encrypt,
            G::Decrypt,
            G::ReEncryptFrom,
            G::ReEncryptTo,
            G::GetPublicKey,
        ];
        let signing = [G::Sign, G::Verify, G::GetPublicKey];
        let hmac = [G::GenerateMac, G::VerifyMac];
        let key_agreement = [G::DeriveSharedSecret, G::GetPublicKey];
        let key_encapsulation = [G::Encapsulate, G::Decapsulate, G::GetPublicKey];
        let mut pairs = 0;
        for spec in KeySpec::ALL.iter().copied() {
            for usage in spec.usages().iter().copied() {
                let column: &[GrantOperation] = match (spec, usage) {
                    (SymmetricDefault, _) => &symmetric_encryption,
                    (_, KeyUsage::EncryptDecrypt) => &asymmetric_encryption,
                    (_, KeyUsage::SignVerify) => &signing,
                    (_, KeyUsage::GenerateVerifyMac) => &hmac,
                    (_, KeyUsage::KeyAgreement) => &key_agreement,
                    (_, KeyUsage::EncapsulateDecapsulate) => &key_encapsulation,
                };
                for op in GrantOperation::ALL.iter().copied() {
                    let expected = EVERY_KEY.contains(&op) || column.contains(&op);
                    assert_eq!(
                        op.supported_by(spec, usage),
                        expected,
                        "{op} on a {spec} {usage} key"
                    );
                }
                pairs += 1;
            }
        }
        assert_eq!(pairs, 28, "every spec and usage CreateKey allows");
        assert_eq!(GrantOperation::ALL.len(), 19);
        assert!(GrantOperation::ALL
            .iter()
            .all(|op| GrantOperation::parse(op.as_str()) == Some(*op)));
        assert_eq!(GrantOperation::parse("sign"), None);
    }

    #[test]
    fn every_spec_has_algorithms_for_each_usage_it_allows() {
        for spec in KeySpec::ALL {
            for usage in spec.usages() {
                let n = spec.signing_algorithms(*usage).len()
                    + spec.encryption_algorithms(*usage).len()
                    + usize::from(spec.mac_algorithm().is_some())
                    + spec.key_agreement_algorithms(*usage).len()
                    + spec.encapsulation_algorithms(*usage).len();
                assert!(n >= 1, "{spec} {usage}");
            }
        }
    }
}
