//! The query vocabulary: one name per idea across the API, and the other names a request may
//! use for it.
//!
//! A route takes an idea's canonical name and accepts its aliases: `start_date` works where
//! `start` is documented, and the other way round. The exceptions are contracts Tollgate does
//! not own: llmring's routes keep llmring's names (`/api/v1/logs` and `/api/v1/stats` read
//! `start_date`), and accept the canonical name as the alias. Some routes use one of these
//! names for another idea (`/api/v1/transparency/entries` reads `start` and `end` as entry
//! positions); no alias applies there.
//!
//! The server reads this table to refuse a request that gives two names of one idea, and the
//! OpenAPI document lists each alias beside the name it stands for. A test over the document
//! holds every query parameter to it.

/// One idea a query parameter names.
#[derive(Debug, Clone, Copy)]
pub struct Idea {
    /// What the parameter means.
    pub meaning: &'static str,
    /// Its name on every route that has no contract of its own.
    pub canonical: &'static str,
    /// The other names accepted for it.
    pub aliases: &'static [&'static str],
    /// Routes whose contract fixes another of the names: `(path, name)`.
    pub contract: &'static [(&'static str, &'static str)],
    /// Routes where these names mean something else, so no alias applies.
    pub elsewhere: &'static [&'static str],
}

impl Idea {
    /// Every name of the idea, the canonical one first.
    pub fn names(&self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.canonical).chain(self.aliases.iter().copied())
    }

    /// Whether `name` is one of the idea's names.
    pub fn has(&self, name: &str) -> bool {
        self.names().any(|n| n == name)
    }

    /// The name `path` documents for the idea: its contract's, else the canonical one.
    pub fn name_on(&self, path: &str) -> &'static str {
        self.contract
            .iter()
            .find(|(p, _)| *p == path)
            .map_or(self.canonical, |(_, name)| name)
    }

    /// Whether the idea's names carry it on `path` (they mean something else there).
    pub fn applies_on(&self, path: &str) -> bool {
        !self.elsewhere.contains(&path)
    }
}

/// The llmring routes whose names for a period are `start_date` and `end_date`.
const LLMRING_PERIOD: [&str; 2] = ["/api/v1/logs", "/api/v1/stats"];

/// Positions in the tenant log, not moments.
const LOG_POSITIONS: [&str; 1] = ["/api/v1/transparency/entries"];

/// Every idea that has more than one name.
pub const IDEAS: &[Idea] = &[
    Idea {
        meaning: "the first day or instant of a period",
        canonical: "start",
        aliases: &["start_date"],
        contract: &[
            (LLMRING_PERIOD[0], "start_date"),
            (LLMRING_PERIOD[1], "start_date"),
        ],
        elsewhere: &LOG_POSITIONS,
    },
    Idea {
        meaning: "the last day or instant of a period",
        canonical: "end",
        aliases: &["end_date"],
        contract: &[
            (LLMRING_PERIOD[0], "end_date"),
            (LLMRING_PERIOD[1], "end_date"),
        ],
        elsewhere: &LOG_POSITIONS,
    },
    Idea {
        meaning: "what a report's rows are keyed by",
        canonical: "group_by",
        aliases: &["by"],
        contract: &[],
        elsewhere: &[],
    },
];

/// The idea `name` names on `path`, if it has other names there.
pub fn idea_of(path: &str, name: &str) -> Option<&'static Idea> {
    IDEAS.iter().find(|i| i.has(name) && i.applies_on(path))
}

/// The first two names of one idea that `names` (a request's parameter names) both hold on
/// `path`, as `(the route's own name, the other)`.
pub fn both_given<'a>(
    path: &str,
    names: impl IntoIterator<Item = &'a str>,
) -> Option<(&'static str, &'a str)> {
    let mut seen: Vec<(&'static Idea, &'a str)> = Vec::new();
    for name in names {
        let Some(idea) = idea_of(path, name) else {
            continue;
        };
        if let Some((_, first)) = seen
            .iter()
            .find(|(i, other)| std::ptr::eq(*i, idea) && *other != name)
        {
            let own = idea.name_on(path);
            let other = if *first == own { name } else { first };
            return Some((own, other));
        }
        seen.push((idea, name));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_names_of_one_idea_are_found_and_the_route_name_comes_first() {
        let names = ["limit", "start_date", "start"];
        assert_eq!(
            both_given("/api/v1/analytics/usage", names),
            Some(("start", "start_date"))
        );
        assert_eq!(
            both_given("/api/v1/logs", names),
            Some(("start_date", "start"))
        );
        assert_eq!(both_given("/api/v1/logs", ["start", "end_date"]), None);
        assert_eq!(both_given("/api/v1/logs", ["start", "start"]), None);
    }

    #[test]
    fn names_that_mean_something_else_on_a_route_have_no_alias_there() {
        assert!(idea_of("/api/v1/transparency/entries", "start").is_none());
        assert_eq!(
            both_given("/api/v1/transparency/entries", ["start", "start_date"]),
            None
        );
        assert_eq!(
            idea_of("/api/v1/export/usage", "end_date").map(|i| i.canonical),
            Some("end")
        );
    }
}
