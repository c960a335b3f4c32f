//! Deep merge of override values (DESIGN §7): maps merge key by key, anything else (scalars,
//! lists, null) replaces. A leaf: used by `validate` (mesh-wide under per-cluster overrides)
//! and `plan` (overrides over what meshrender computed).

use serde_json::Value;

/// Merges `over` into `base`: where both are maps, key by key (recursively); otherwise `over`
/// replaces `base`.
pub fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// `over` merged into `base`, both optional.
pub fn merged(base: Option<&Value>, over: Option<&Value>) -> Option<Value> {
    match (base, over) {
        (None, None) => None,
        (Some(b), None) => Some(b.clone()),
        (None, Some(o)) => Some(o.clone()),
        (Some(b), Some(o)) => {
            let mut m = b.clone();
            merge(&mut m, o);
            Some(m)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_merge_and_everything_else_replaces() {
        let mut base = json!({"a": {"b": 1, "c": [1, 2]}, "d": "x"});
        merge(
            &mut base,
            &json!({"a": {"c": [3], "e": {"f": true}}, "d": null}),
        );
        assert_eq!(
            base,
            json!({"a": {"b": 1, "c": [3], "e": {"f": true}}, "d": null})
        );
        let mut scalar = json!(1);
        merge(&mut scalar, &json!({"k": 2}));
        assert_eq!(scalar, json!({"k": 2}));
    }

    #[test]
    fn merged_takes_either_side() {
        assert_eq!(merged(None, None), None);
        assert_eq!(merged(Some(&json!({"a": 1})), None), Some(json!({"a": 1})));
        assert_eq!(
            merged(Some(&json!({"a": 1})), Some(&json!({"b": 2}))),
            Some(json!({"a": 1, "b": 2}))
        );
    }
}
