//! The Region names this deployment serves (`trent serve --regions`). A
//! request signed for any other Region is refused as AWS refuses a scope
//! naming a Region it does not have: `InvalidSignatureException`,
//! "Credential should be scoped to a valid region, not '<name>'.".

use std::collections::BTreeSet;

/// Every Region name AWS publishes, by partition. The commercial ones, and
/// also China's, GovCloud's and the isolated partitions' names, which
/// Trent has always accepted (clients written for them keep working).
pub const AWS_REGIONS: &[&str] = &[
    // aws (commercial)
    "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2",
    "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
    "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2",
    "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1",
    "us-west-2",
    // aws-cn, aws-us-gov
    "cn-north-1", "cn-northwest-1", "us-gov-east-1", "us-gov-west-1",
    // aws-iso, aws-iso-b, aws-iso-e, aws-iso-f
    "us-iso-east-1", "us-iso-west-1", "us-isob-east-1", "eu-isoe-west-1", "us-isof-east-1", "us-isof-south-1",
    // aws-eusc (the European Sovereign Cloud)
    "eusc-de-east-1",
];

/// The accepted Region names.
#[derive(Debug, Clone)]
pub struct Regions(BTreeSet<String>);

impl Default for Regions {
    fn default() -> Regions {
        Regions(AWS_REGIONS.iter().map(|r| (*r).to_owned()).collect())
    }
}

impl Regions {
    /// The names given (each a well-formed Region name), or AWS's if none.
    pub fn new(names: &[String]) -> Result<Regions, String> {
        if names.is_empty() {
            return Ok(Regions::default());
        }
        if let Some(bad) = names.iter().find(|n| !trent_sigv4::is_region_name(n)) {
            return Err(format!("--regions: '{bad}' is not a Region name"));
        }
        Ok(Regions(names.iter().cloned().collect()))
    }

    pub fn contains(&self, region: &str) -> bool {
        self.0.contains(region)
    }

    /// AWS's answer for a scope naming a Region not served here.
    pub fn check(&self, region: &str) -> Result<(), trent_sigv4::SigV4Error> {
        if self.contains(region) {
            return Ok(());
        }
        Err(trent_sigv4::SigV4Error::WrongRegion { region: region.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_every_published_region_name_and_nothing_else() {
        let r = Regions::default();
        for name in ["us-east-1", "eu-west-1", "us-west-2", "us-east-2", "eu-central-2", "ap-southeast-4", "il-central-1", "us-gov-west-1", "cn-north-1", "us-isob-east-1"] {
            assert!(r.contains(name), "{name}");
        }
        for name in ["us-east-9", "xx-west-1", "local"] {
            assert!(!r.contains(name), "{name}");
        }
        assert!(AWS_REGIONS.iter().all(|n| trent_sigv4::is_region_name(n)));
    }

    #[test]
    fn a_configured_list_replaces_the_default() {
        let r = Regions::new(&["us-east-1".into(), "moon-base-1".into()]).unwrap();
        assert!(r.contains("moon-base-1") && r.contains("us-east-1") && !r.contains("eu-west-1"));
        let e = r.check("eu-west-1").unwrap_err();
        assert_eq!(e.message(), "Credential should be scoped to a valid region, not 'eu-west-1'.");
        assert!(Regions::new(&["US-EAST-1".into()]).is_err());
    }
}
