//! The customer's answer to the satisfaction question: a score from 1 to 5 written as a
//! digit, stars, a face or a word (Portuguese or English), with whatever else they wrote as
//! the comment.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// How a customer rated the service on a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rating {
    /// 1 (terrible) to 5 (excellent).
    pub score: u8,
    /// What the customer wrote with it, when they wrote more than the score.
    pub comment: Option<String>,
    /// When they answered.
    pub rated_at: DateTime<Utc>,
}

/// How long after the question a reply may still rate: later, it is a new message.
pub const RATING_WINDOW: TimeDelta = TimeDelta::hours(24);

/// Faces and signs, with the score each stands for.
const SIGNS: &[(&str, u8)] = &[
    ("😡", 1),
    ("🤬", 1),
    ("😠", 1),
    ("👎", 1),
    ("😞", 2),
    ("🙁", 2),
    ("☹", 2),
    ("😕", 2),
    ("😐", 3),
    ("😶", 3),
    ("🙂", 4),
    ("😊", 4),
    ("👍", 4),
    ("😍", 5),
    ("🤩", 5),
    ("🥰", 5),
    ("😁", 5),
    ("😀", 5),
    ("😃", 5),
    ("👏", 5),
    ("❤", 5),
];

/// Words and phrases (accents folded, lower case), longest first where one begins another.
const WORDS: &[(&str, u8)] = &[
    ("muito ruim", 1),
    ("muito bom", 5),
    ("muito boa", 5),
    ("very good", 5),
    ("very bad", 1),
    ("mais ou menos", 3),
    ("so so", 3),
    ("so-so", 3),
    ("pessimo", 1),
    ("pessima", 1),
    ("horrivel", 1),
    ("terrivel", 1),
    ("terrible", 1),
    ("awful", 1),
    ("horrible", 1),
    ("ruim", 2),
    ("bad", 2),
    ("poor", 2),
    ("regular", 3),
    ("razoavel", 3),
    ("average", 3),
    ("bom", 4),
    ("boa", 4),
    ("good", 4),
    ("legal", 4),
    ("otimo", 5),
    ("otima", 5),
    ("excelente", 5),
    ("excellent", 5),
    ("great", 5),
    ("perfeito", 5),
    ("perfeita", 5),
    ("perfect", 5),
    ("amazing", 5),
    ("maravilhoso", 5),
];

/// Lower case with Portuguese accents folded (`Ótimo` → `otimo`).
fn folded(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
            'é' | 'ê' | 'è' | 'ë' => 'e',
            'í' | 'î' | 'ì' | 'ï' => 'i',
            'ó' | 'ô' | 'õ' | 'ò' | 'ö' => 'o',
            'ú' | 'û' | 'ù' | 'ü' => 'u',
            'ç' => 'c',
            other => other,
        })
        .collect()
}

/// Whether what follows a digit or a word ends it as a score: nothing, or a separator
/// (`5!`, `4 - demorou`, `Ótimo, obrigado`), never more words (`3 dias`, `Bom dia`).
fn ends_a_score(rest: &str) -> bool {
    let rest = rest.trim_start();
    rest.is_empty() || rest.starts_with(['-', '–', '—', ':', ',', '.', '!', ';', '\n'])
}

/// The score a reply begins with, if it begins with one: a digit 1–5 standing alone
/// (`5`, `4/5`, `3 de 5`, `nota 3`, `3 - demorou`), one to five stars, a face, or a word
/// such as `ótimo`, `péssimo`, `muito bom`, `good` followed by nothing or a separator. A
/// reply that reads on (`Bom dia, …`, `3 dias sem resposta`, `não foi bom`) is no rating:
/// it reopens the ticket, so that a complaint is never taken for a score.
pub fn score_of(text: &str) -> Option<u8> {
    // Emoji presentation selectors (`⭐️`) say nothing of the score.
    let text = folded(text.trim()).replace('\u{fe0f}', "");
    let text = ["nota", "score", "rating"]
        .iter()
        .find_map(|p| text.strip_prefix(p))
        .map_or(text.as_str(), |rest| {
            rest.trim_start_matches([' ', ':', '='])
        });
    let first = text.chars().next()?;
    if let Some(digit) = first.to_digit(10) {
        // An ASCII digit: one byte.
        let rest = text[1..].trim_start();
        let rest = ["/5", "de 5"]
            .iter()
            .find_map(|out_of| rest.strip_prefix(out_of))
            .unwrap_or(rest);
        return ((1..=5).contains(&digit) && ends_a_score(rest)).then_some(digit as u8);
    }
    let stars = text.chars().take_while(|c| matches!(c, '⭐' | '★')).count();
    if stars > 0 {
        return (stars <= 5).then_some(stars as u8);
    }
    if let Some((_, score)) = SIGNS.iter().find(|(sign, _)| text.starts_with(sign)) {
        return Some(*score);
    }
    WORDS.iter().find_map(|(word, score)| {
        let rest = text.strip_prefix(word)?;
        ends_a_score(rest).then_some(*score)
    })
}

/// Whether a reply is its score and nothing else (`5`, `4/5`, `nota 3`, `⭐⭐`, `😍`,
/// `Excelente!`).
fn only_a_score(text: &str) -> bool {
    let core = folded(text.trim());
    let core = core.trim_end_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace());
    let core = ["nota", "score", "rating"]
        .iter()
        .find_map(|p| core.strip_prefix(p))
        .map_or(core, |rest| rest.trim_start_matches([' ', ':', '=']));
    WORDS.iter().any(|(w, _)| *w == core)
        || SIGNS
            .iter()
            .any(|(sign, _)| core.trim_end_matches('\u{fe0f}') == *sign)
        || core
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '/' | ' ' | '⭐' | '★'))
        || core
            .strip_suffix("de 5")
            .is_some_and(|d| d.trim().len() == 1)
}

/// A reply read as a rating at `at`: its score, and the whole reply as the comment when it
/// says more than the score.
pub fn read_rating(text: &str, at: DateTime<Utc>) -> Option<Rating> {
    let score = score_of(text)?;
    Some(Rating {
        score,
        comment: (!only_a_score(text)).then(|| text.trim().to_owned()),
        rated_at: at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_stars_faces_and_words_in_both_languages() {
        for (text, score) in [
            ("5", 5),
            (" 4 ", 4),
            ("4/5", 4),
            ("3 de 5", 3),
            ("nota 2", 2),
            ("Nota: 1", 1),
            ("5!", 5),
            ("2 - demorou muito", 2),
            ("⭐⭐⭐⭐", 4),
            ("★★★★★ adorei", 5),
            ("😍", 5),
            ("👍", 4),
            ("😡 nunca mais", 1),
            ("Ótimo", 5),
            ("Ótimo, obrigado!", 5),
            ("Péssimo.", 1),
            ("muito bom", 5),
            ("Muito ruim - ninguém respondeu", 1),
            ("regular", 3),
            ("Good", 4),
            ("great!", 5),
            ("terrible", 1),
            ("⭐️⭐️⭐️", 3),
            ("4/5, quase perfeito", 4),
        ] {
            assert_eq!(score_of(text), Some(score), "{text:?}");
        }
    }

    #[test]
    fn other_replies_are_no_rating() {
        for text in [
            "",
            "0",
            "6",
            "10",
            "15 minutos e nada",
            "5min",
            "não foi bom",
            "ainda não recebi",
            "okinawa",
            "bomba",
            "ok, mas não resolveu",
            "Bom dia, meu pedido não chegou",
            "Boa tarde!",
            "Good morning, still broken",
            "1 dúvida",
            "3 dias sem resposta",
            "3/10",
            "ótimo atendimento mas o produto veio errado",
            "⭐⭐⭐⭐⭐⭐",
            "obrigado 5",
            "What? It still does not work",
        ] {
            assert_eq!(score_of(text), None, "{text:?}");
        }
    }

    #[test]
    fn the_comment_is_the_reply_when_it_says_more() {
        let at = Utc::now();
        assert_eq!(read_rating("5", at).unwrap().comment, None);
        assert_eq!(read_rating("⭐⭐⭐", at).unwrap().comment, None);
        assert_eq!(read_rating("Ótimo", at).unwrap().comment, None);
        assert_eq!(read_rating("Excelente!", at).unwrap().comment, None);
        assert_eq!(read_rating("nota 4", at).unwrap().comment, None);
        assert_eq!(read_rating("3 de 5", at).unwrap().comment, None);
        assert_eq!(read_rating("👍", at).unwrap().comment, None);
        let r = read_rating("2 - demorou muito ", at).unwrap();
        assert_eq!(r.score, 2);
        assert_eq!(r.comment.as_deref(), Some("2 - demorou muito"));
        assert_eq!(r.rated_at, at);
    }
}
