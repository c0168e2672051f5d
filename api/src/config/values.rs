//! Parsing one setting's text into its value; each error says what was expected, and the
//! caller names the setting.

use pika_domain::TenantId;
use secrecy::SecretString;

use super::ApiKeySeed;

/// A TOML scalar as the text an environment variable would hold.
pub(super) fn scalar_text(value: &toml::Value, key: &str) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(n) => Ok(n.to_string()),
        toml::Value::Float(n) => Ok(n.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        _ => Err(format!("{key}: expected a string, number or boolean")),
    }
}

pub(super) fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("{value:?} is not true or false")),
    }
}

pub(super) fn parse_prefix(value: &str) -> Result<String, String> {
    let valid = value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(value.to_owned())
    } else {
        Err("use up to 64 letters, digits, - _ or .".into())
    }
}

pub(super) fn parse_retention(
    value: &str,
) -> Result<Vec<pika_projections::data_keys::Retention>, String> {
    let mut rules: Vec<pika_projections::data_keys::Retention> = Vec::new();
    for (index, pair) in value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        let position = index + 1;
        let (tenant, days) = pair
            .split_once(':')
            .ok_or_else(|| format!("entry {position} is not tenant:days"))?;
        let tenant = match tenant.trim() {
            "*" => None,
            name => Some(
                TenantId::parse(name)
                    .map_err(|e| format!("entry {position}: {e}"))?
                    .to_string(),
            ),
        };
        let days: u32 = days
            .trim()
            .parse()
            .ok()
            .filter(|days| (1..=36_500).contains(days))
            .ok_or_else(|| format!("entry {position}: days must be a whole number, 1 to 36500"))?;
        if rules.iter().any(|rule| rule.tenant == tenant) {
            return Err(format!("entry {position}: that tenant has a rule already"));
        }
        rules.push(pika_projections::data_keys::Retention { tenant, days });
    }
    Ok(rules)
}

pub(super) fn parse_api_keys(value: &str) -> Result<Vec<ApiKeySeed>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .enumerate()
        .map(|(index, pair)| {
            let position = index + 1;
            let (tenant, secret) = pair
                .split_once(':')
                .ok_or_else(|| format!("entry {position} is not tenant:secret"))?;
            let tenant = TenantId::parse(tenant).map_err(|e| format!("entry {position}: {e}"))?;
            if secret.len() < 8 {
                return Err(format!(
                    "entry {position}: the secret must be at least 8 characters"
                ));
            }
            Ok(ApiKeySeed {
                tenant,
                secret: SecretString::from(secret),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_rules_read_per_tenant_with_a_default_and_bad_ones_say_why() {
        let rules = parse_retention("*:365, school-a:30").unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!((rules[0].tenant.as_deref(), rules[0].days), (None, 365));
        assert_eq!(
            (rules[1].tenant.as_deref(), rules[1].days),
            (Some("school-a"), 30)
        );
        for (bad, why) in [
            ("30", "not tenant:days"),
            ("*:0", "1 to 36500"),
            ("*:many", "1 to 36500"),
            ("*:30,*:60", "has a rule already"),
            ("bad tenant!:3", "entry 1"),
        ] {
            let error = parse_retention(bad).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }
}
