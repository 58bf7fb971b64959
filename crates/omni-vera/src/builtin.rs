//! The built-in triage engine: deterministic keyword, lexicon and rule scoring, Portuguese
//! (Brazil) first and English, case- and accent-insensitive. The default when a company has
//! no Vera AI, and the fallback whenever Vera fails.

use async_trait::async_trait;
use omni_tenancy::Locale;
use omni_ticketing::{
    Priority, Sentiment, SuggestedCategory, Triage, TriageError, TriageInput, TriageResult,
};

/// Keywords and phrases per default category: (text, weight). A single word matches any
/// word it starts (`cobr` matches `cobrado`, `cobrança`); a phrase matches as words in order.
const CATEGORY_WORDS: &[(&str, &[(&str, f64)])] = &[
    (
        "billing",
        &[
            ("cobr", 3.0),
            ("fatura", 3.0),
            ("boleto", 3.0),
            ("estorno", 3.0),
            ("reembols", 3.0),
            ("pagamento", 2.0),
            ("paguei", 2.0),
            ("pagar", 1.5),
            ("pix", 2.0),
            ("cartao", 1.5),
            ("nota fiscal", 3.0),
            ("taxa", 2.0),
            ("juros", 2.5),
            ("mensalidade", 2.5),
            ("duas vezes", 2.0),
            ("2x", 2.0),
            ("duplicidade", 3.0),
            ("dinheiro de volta", 2.5),
            ("valor", 1.0),
            ("divida", 2.5),
            ("parcelar", 2.0),
            ("vencimento", 2.5),
            ("vencido", 2.0),
            ("segunda via", 3.0),
            ("desconto pra pagar", 2.0),
            ("charged", 3.0),
            ("charge", 2.5),
            ("refund", 3.0),
            ("invoice", 3.0),
            ("payment", 2.5),
            ("billing", 3.0),
            ("bill", 2.0),
            ("forma de pagamento", 3.0),
            ("recusado", 1.5),
            ("compensado", 2.0),
        ],
    ),
    (
        "technical_support",
        &[
            ("aplicativo", 2.0),
            ("app", 2.0),
            ("login", 3.0),
            ("senha", 3.0),
            ("erro", 2.5),
            ("trava", 3.0),
            ("bug", 3.0),
            ("site", 2.0),
            ("sistema", 2.0),
            ("internet", 3.0),
            ("wifi", 3.0),
            ("conect", 2.5),
            ("fora do ar", 3.0),
            ("nao funciona", 2.0),
            ("nao esta funcionando", 2.0),
            ("nao ta funcionando", 2.0),
            ("funciona", 1.0),
            ("acess", 2.0),
            ("lento", 2.5),
            ("codigo de verificacao", 3.0),
            ("atualiza", 2.0),
            ("instal", 2.5),
            ("configur", 2.5),
            ("roteador", 3.0),
            ("caindo", 2.5),
            ("carrega", 2.5),
            ("botao", 2.5),
            ("sincroniz", 3.0),
            ("bloquead", 2.0),
            ("dando pau", 3.0),
            ("notifica", 2.0),
            ("redefinir", 2.5),
            ("crash", 3.0),
            ("log in", 3.0),
            ("password", 3.0),
            ("website", 2.5),
            ("down", 1.5),
            ("hacked", 3.0),
            ("account was", 1.0),
            ("parou", 2.0),
            ("email", 1.5),
            ("tela", 1.5),
        ],
    ),
    (
        "orders_delivery",
        &[
            ("pedido", 2.5),
            ("entreg", 3.0),
            ("chegou", 2.0),
            ("chego", 2.0),
            ("rastre", 3.0),
            ("frete", 3.0),
            ("encomenda", 3.0),
            ("pacote", 3.0),
            ("transportadora", 3.0),
            ("atrasad", 2.5),
            ("prazo de entrega", 3.0),
            ("cep", 2.0),
            ("despach", 3.0),
            ("quebrado", 2.5),
            ("produto errado", 3.0),
            ("veio", 1.0),
            ("faltou", 2.5),
            ("metade do pedido", 3.0),
            ("trocar", 2.0),
            ("troca", 2.0),
            ("defeito", 2.0),
            ("endereco", 2.0),
            ("centro de distribuicao", 3.0),
            ("order", 2.0),
            ("package", 3.0),
            ("shipping", 3.0),
            ("delivery", 3.0),
            ("arrive", 2.5),
            ("damaged", 2.5),
            ("tamanho", 1.5),
        ],
    ),
    (
        "cancellation",
        &[
            ("cancel", 4.0),
            ("encerrar", 3.0),
            ("desativar", 3.0),
            ("desisto", 3.0),
            ("suspender", 3.0),
            ("nao quero mais", 2.5),
            ("renovacao automatica", 3.0),
            ("unsubscribe", 4.0),
            ("close my account", 4.0),
            ("contrato", 1.5),
            ("multa", 1.5),
        ],
    ),
    (
        "complaint",
        &[
            ("pessim", 4.0),
            ("insatisfeit", 4.0),
            ("procon", 5.0),
            ("reclam", 4.0),
            ("absurdo", 2.0),
            ("grosso", 4.0),
            ("vergonha", 3.5),
            ("horrivel", 3.5),
            ("ninguem", 2.5),
            ("respeito", 3.0),
            ("gerente", 3.0),
            ("inaceitavel", 3.5),
            ("advogado", 5.0),
            ("process", 2.5),
            ("nunca mais", 4.0),
            ("descaso", 4.0),
            ("lixo", 3.5),
            ("decepcionad", 4.0),
            ("enganosa", 4.0),
            ("terceira vez", 3.0),
            ("demoraram", 2.0),
            ("atendente", 1.5),
            ("worst", 4.0),
            ("disappointed", 4.0),
            ("consumer protection", 5.0),
            ("customer service", 1.5),
            ("atendimento lixo", 3.0),
            ("qualidade", 2.0),
        ],
    ),
    (
        "sales",
        &[
            ("quanto custa", 4.0),
            ("qto custa", 4.0),
            ("preco", 3.0),
            ("plano", 1.5),
            ("planos", 2.0),
            ("desconto", 2.0),
            ("orcamento", 4.0),
            ("comprar", 3.0),
            ("contratar", 3.5),
            ("promocao", 3.5),
            ("estoque", 3.5),
            ("upgrade", 3.5),
            ("quanto fica", 4.0),
            ("tem esse produto", 3.0),
            ("cor", 1.0),
            ("unidades", 2.5),
            ("diferenca entre", 2.5),
            ("em quantidade", 3.0),
            ("price", 4.0),
            ("quote", 4.0),
            ("in stock", 4.0),
            ("licenses", 3.0),
            ("free trial", 4.0),
            ("plan", 1.5),
            ("frete gratis", 2.0),
            ("12x", 2.0),
        ],
    ),
];

/// Words that make a message negative or positive, with their strength.
const NEGATIVE: &[(&str, f64)] = &[
    ("pessim", 3.0),
    ("horrivel", 3.0),
    ("absurdo", 2.5),
    ("lixo", 3.0),
    ("vergonha", 2.5),
    ("insatisfeit", 2.5),
    ("decepcionad", 2.5),
    ("inaceitavel", 3.0),
    ("descaso", 2.5),
    ("grosso", 2.0),
    ("raiva", 2.5),
    ("errad", 1.5),
    ("erro", 1.5),
    ("problema", 1.5),
    ("quebrad", 2.0),
    ("defeito", 2.0),
    ("atrasad", 1.5),
    ("trava", 1.5),
    ("caindo", 1.5),
    ("indevid", 2.0),
    ("duas vezes", 1.5),
    ("2x", 1.5),
    ("duplicidade", 1.5),
    ("lento", 1.5),
    ("bugou", 2.0),
    ("dando pau", 2.0),
    ("fora do ar", 2.0),
    ("procon", 2.0),
    ("processar", 2.0),
    ("advogado", 2.0),
    ("reclam", 1.5),
    ("nunca mais", 2.5),
    ("perdeu", 2.0),
    ("faltou", 1.5),
    ("sem motivo", 1.5),
    ("nada", 1.0),
    ("ninguem", 1.5),
    ("enganosa", 2.5),
    ("recusad", 1.5),
    ("bloquead", 1.5),
    ("parad", 1.0),
    ("parou", 1.5),
    ("cade", 1.5),
    ("sem vender", 1.5),
    ("so metade", 1.5),
    ("worst", 3.0),
    ("terrible", 3.0),
    ("disappointed", 2.5),
    ("damaged", 2.0),
    ("crashing", 2.0),
    ("failed", 1.5),
    ("hacked", 2.0),
    ("invalid", 1.0),
    ("down", 1.0),
    ("charged twice", 2.0),
    ("still not", 1.5),
    ("mais cara", 1.5),
    ("caro", 1.0),
    ("juros", 1.0),
    ("nao reconheco", 1.5),
    ("pendente", 1.0),
    ("report you", 2.0),
];

const POSITIVE: &[(&str, f64)] = &[
    ("obrigad", 2.0),
    ("valeu", 2.0),
    ("otim", 2.5),
    ("excelente", 3.0),
    ("perfeito", 2.5),
    ("adorei", 3.0),
    ("amei", 3.0),
    ("parabens", 2.5),
    ("nota 10", 3.0),
    ("rapidinho", 1.5),
    ("certinho", 1.5),
    ("agradecer", 2.0),
    ("gostei", 2.5),
    ("resolvido", 1.5),
    ("consegui resolver", 2.0),
    ("thank", 2.0),
    ("thanks", 2.0),
    ("great", 2.5),
    ("love", 2.5),
    ("awesome", 3.0),
    ("excellent", 3.0),
    ("quero contratar", 1.0),
    ("quero comprar", 1.0),
    ("upgrade", 1.0),
];

/// Verbs that are good news when affirmed and bad news when negated ("não funciona").
const NEEDS_AFFIRMATION: &[&str] = &[
    "funciona",
    "funcionando",
    "chegou",
    "chego",
    "resolve",
    "resolvem",
    "resolveu",
    "responde",
    "recebi",
    "recebo",
    "consigo",
    "conecta",
    "liga",
    "carrega",
    "aparece",
    "deixa",
    "works",
    "working",
    "arrived",
    "received",
];

const NEGATIONS: &[&str] = &[
    "nao", "nunca", "nem", "sem", "not", "no", "never", "cant", "can", "dont", "isnt", "didnt",
    "wasnt", "nada",
];
const INTENSIFIERS: &[&str] = &[
    "muito",
    "super",
    "demais",
    "totalmente",
    "extremamente",
    "bem",
    "very",
    "really",
    "extremely",
    "so",
];

/// Cues that a ticket cannot wait, with their weight.
const URGENCY: &[(&str, f64)] = &[
    ("urgent", 3.0),
    ("urgencia", 3.0),
    ("imediat", 2.5),
    ("agora", 2.0),
    ("asap", 3.0),
    ("emergenc", 3.0),
    ("procon", 3.0),
    ("reclame aqui", 3.0),
    ("advogado", 3.0),
    ("processar", 3.0),
    ("justica", 3.0),
    ("consumer protection", 3.0),
    ("fora do ar", 2.0),
    ("is down", 2.0),
    ("hacked", 3.0),
    ("sem vender", 2.0),
    ("preciso trabalhar", 2.0),
    ("pra amanha", 2.0),
    ("hoje", 1.0),
    ("vou cancelar tudo", 2.5),
];

/// Words that make a ticket trivial (greetings, thanks, questions about prices or hours).
const LOW_CUES: &[&str] = &[
    "bom dia",
    "boa tarde",
    "boa noite",
    "tudo bem",
    "obrigad",
    "valeu",
    "horario",
    "quanto custa",
    "qto custa",
    "preco",
    "promocao",
    "como instalo",
    "como configuro",
    "instagram",
    "telefone",
    "loja",
    "feriado",
    "estoque",
    "price",
    "opening hours",
    "thank",
    "free trial",
    "in stock",
    "hello",
    "parabens",
    "nota 10",
    "amei",
    "adorei",
    "orcamento",
    "quote",
];

/// Reply templates per category: (pt-BR, en).
fn template(category: &str, locale: Locale, name: Option<&str>) -> String {
    let (pt, en) = match category {
        "billing" => (
            "recebemos sua mensagem sobre cobrança. Um especialista do financeiro vai verificar e responder em breve.",
            "we received your message about billing. A billing specialist will check it and reply shortly.",
        ),
        "technical_support" => (
            "recebemos seu relato técnico. Nossa equipe de suporte já está analisando e retorna em breve.",
            "we received your technical report. Our support team is looking into it and will get back to you shortly.",
        ),
        "orders_delivery" => (
            "recebemos sua mensagem sobre o pedido. Vamos verificar a situação da entrega e já retornamos.",
            "we received your message about your order. We are checking the delivery and will get back to you shortly.",
        ),
        "cancellation" => (
            "recebemos seu pedido de cancelamento. Um atendente vai confirmar os detalhes com você em breve.",
            "we received your cancellation request. An agent will confirm the details with you shortly.",
        ),
        "complaint" => (
            "sentimos muito pela experiência. Sua reclamação foi registrada com prioridade e um responsável vai falar com você.",
            "we are very sorry about your experience. Your complaint has been logged with priority and someone responsible will contact you.",
        ),
        "sales" => (
            "obrigado pelo interesse! Um consultor vai enviar as informações que você pediu em breve.",
            "thank you for your interest! A consultant will send you the information you asked for shortly.",
        ),
        _ => (
            "recebemos sua mensagem. Um atendente vai responder em breve.",
            "we received your message. An agent will reply shortly.",
        ),
    };
    match (locale, name) {
        (Locale::PtBr, Some(n)) => format!("Olá, {n}! {}", capitalise(pt)),
        (Locale::PtBr, None) => format!("Olá! {}", capitalise(pt)),
        (Locale::En, Some(n)) => format!("Hi {n}, {en}"),
        (Locale::En, None) => format!("Hi, {en}"),
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Lower-case, accents removed, anything but letters and digits turned into single spaces.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last_space = true;
    for c in text.chars().flat_map(char::to_lowercase) {
        let c = match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            '\'' | '’' => continue,
            c => c,
        };
        if c.is_alphanumeric() {
            out.push(c);
            last_space = false;
        } else if !last_space {
            out.push(' ');
            last_space = true;
        }
    }
    out.trim_end().to_owned()
}

/// Whether `needle` (normalised) occurs in `words`: a phrase as whole words in order
/// (its last word by prefix), a single word as the prefix of a word.
fn matches_at(words: &[&str], needle: &str) -> Vec<usize> {
    let parts: Vec<&str> = needle.split(' ').collect();
    let mut hits = Vec::new();
    if parts.is_empty() || words.len() < parts.len() {
        return hits;
    }
    for start in 0..=words.len() - parts.len() {
        let ok = parts.iter().enumerate().all(|(i, p)| {
            let w = words[start + i];
            if i + 1 == parts.len() {
                w.starts_with(p)
            } else {
                w == *p
            }
        });
        if ok {
            hits.push(start);
        }
    }
    hits
}

/// The built-in engine.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinTriage;

impl BuiltinTriage {
    /// Triage without I/O: the same input always gives the same answer.
    pub fn classify(&self, input: &TriageInput) -> TriageResult {
        let text = normalise(&input.messages.join(" \n "));
        let words: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();

        // Categories: the defaults' words plus each company category's own keywords.
        let mut scores: Vec<(String, f64)> = input
            .categories
            .iter()
            .map(|c| {
                let builtin = CATEGORY_WORDS
                    .iter()
                    .find(|(name, _)| *name == c.name)
                    .map(|(_, w)| *w)
                    .unwrap_or(&[]);
                let mut score: f64 = builtin
                    .iter()
                    .map(|(k, w)| matches_at(&words, k).len().min(2) as f64 * w)
                    .sum();
                for keyword in &c.keywords {
                    let k = normalise(keyword);
                    if !k.is_empty() {
                        score += matches_at(&words, &k).len().min(2) as f64 * 3.0;
                    }
                }
                (c.name.clone(), score)
            })
            .collect();
        scores.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let total: f64 = scores.iter().map(|(_, s)| s).sum();
        let has_general = input.categories.iter().any(|c| c.name == "general");
        let category = match scores.first() {
            Some((name, score)) if *score >= 1.5 => name.clone(),
            _ if has_general => "general".to_owned(),
            Some((name, _)) => name.clone(),
            None => "general".to_owned(),
        };
        let suggested_categories = scores
            .iter()
            .filter(|(_, s)| *s > 0.0)
            .take(3)
            .map(|(name, s)| SuggestedCategory {
                name: name.clone(),
                confidence: ((s / total.max(1.0)) * 100.0).round() / 100.0,
            })
            .collect();

        let (sentiment, sentiment_score) = sentiment(&words, &input.messages);
        let priority = priority(
            &words,
            &category,
            sentiment_score,
            input.messages.len(),
            &input.messages,
        );
        TriageResult {
            reply: Some(template(
                &category,
                input.locale,
                input.customer_name.as_deref().map(first_name),
            )),
            category,
            priority,
            sentiment,
            sentiment_score,
            suggested_categories,
            engine: "builtin".to_owned(),
        }
    }
}

fn first_name(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or(name)
}

fn negated(words: &[&str], at: usize) -> bool {
    words[at.saturating_sub(3)..at]
        .iter()
        .any(|w| NEGATIONS.contains(w))
}

fn intensified(words: &[&str], at: usize) -> bool {
    words[at.saturating_sub(2)..at]
        .iter()
        .any(|w| INTENSIFIERS.contains(w))
}

fn sentiment(words: &[&str], raw: &[String]) -> (Sentiment, f64) {
    let mut score = 0.0;
    for (lexicon, sign) in [(NEGATIVE, -1.0), (POSITIVE, 1.0)] {
        for (k, w) in lexicon {
            for at in matches_at(words, k) {
                let mut v = sign * w;
                if intensified(words, at) {
                    v *= 1.5;
                }
                // "não gostei" is negative; "não é ruim" barely positive.
                if negated(words, at) && !k.contains(' ') {
                    v = if sign > 0.0 { -v } else { -v * 0.3 };
                }
                score += v;
            }
        }
    }
    for verb in NEEDS_AFFIRMATION {
        for at in matches_at(words, verb) {
            if words[at] == *verb || words[at].len() <= verb.len() + 1 {
                score += if negated(words, at) { -2.0 } else { 0.3 };
            }
        }
    }
    let all_text: String = raw.join(" ");
    let exclamations = all_text.matches('!').count().min(3) as f64;
    let questions = all_text.matches("??").count().min(2) as f64;
    if score < 0.0 {
        score -= 0.5 * exclamations + 0.5 * questions;
    }
    let letters: Vec<char> = all_text.chars().filter(|c| c.is_alphabetic()).collect();
    if letters.len() >= 12
        && letters.iter().filter(|c| c.is_uppercase()).count() * 10 >= letters.len() * 7
    {
        score -= 1.0; // shouting
    }
    let normalised = score / (score.abs() + 3.0);
    let label = if normalised <= -0.2 {
        Sentiment::Negative
    } else if normalised >= 0.2 {
        Sentiment::Positive
    } else {
        Sentiment::Neutral
    };
    (label, (normalised * 100.0).round() / 100.0)
}

fn priority(
    words: &[&str],
    category: &str,
    sentiment: f64,
    messages: usize,
    raw: &[String],
) -> Priority {
    let urgency: f64 = URGENCY
        .iter()
        .map(|(k, w)| {
            if matches_at(words, k).is_empty() {
                0.0
            } else {
                *w
            }
        })
        .sum();
    let mut points = urgency.min(4.0);
    if sentiment <= -0.6 {
        points += 2.0;
    } else if sentiment <= -0.2 {
        points += 1.5;
    }
    if messages >= 3 {
        points += 1.0;
    }
    if raw.iter().any(|m| m.contains("!!")) {
        points += 0.5;
    }
    let low = LOW_CUES.iter().any(|k| !matches_at(words, k).is_empty());
    match category {
        "complaint" => points += 1.0,
        "sales" | "general" if sentiment > -0.2 => points -= 1.0,
        _ => {}
    }
    if low && sentiment > -0.2 && urgency == 0.0 {
        points -= 1.5;
    }
    if points >= 4.0 {
        Priority::Urgent
    } else if points >= 1.5 {
        Priority::High
    } else if points > -1.0 {
        Priority::Medium
    } else {
        Priority::Low
    }
}

#[async_trait]
impl Triage for BuiltinTriage {
    async fn triage(&self, input: &TriageInput) -> Result<TriageResult, TriageError> {
        Ok(self.classify(input))
    }
}

#[cfg(test)]
mod tests {
    use omni_tenancy::CompanySettings;

    use super::*;

    fn input(text: &str) -> TriageInput {
        TriageInput {
            messages: vec![text.to_owned()],
            customer_name: Some("Zé Silva".into()),
            locale: Locale::PtBr,
            categories: CompanySettings::default().categories,
        }
    }

    #[test]
    fn normalises_case_accents_and_punctuation() {
        assert_eq!(
            normalise("Não ESTÁ funcionando!!! Ação"),
            "nao esta funcionando acao"
        );
    }

    #[test]
    fn a_double_charge_is_urgent_negative_billing() {
        let r = BuiltinTriage.classify(&input(
            "Fui cobrado duas vezes no cartão, quero o estorno urgente!",
        ));
        assert_eq!(r.category, "billing");
        assert!(
            matches!(r.priority, Priority::High | Priority::Urgent),
            "{:?}",
            r.priority
        );
        assert_eq!(r.sentiment, Sentiment::Negative);
        assert!(r.reply.as_deref().unwrap().starts_with("Olá, Zé!"));
        assert_eq!(r.suggested_categories[0].name, "billing");
    }

    #[test]
    fn negation_turns_good_news_bad() {
        assert_eq!(
            BuiltinTriage
                .classify(&input("o app está funcionando"))
                .sentiment,
            Sentiment::Neutral
        );
        assert_eq!(
            BuiltinTriage
                .classify(&input("o app não está funcionando"))
                .sentiment,
            Sentiment::Negative
        );
        assert_eq!(
            BuiltinTriage
                .classify(&input("não gostei do produto"))
                .sentiment,
            Sentiment::Negative
        );
    }

    #[test]
    fn company_keywords_extend_their_category() {
        let mut i = input("quero saber do programa de pontos ouro");
        i.categories.push(omni_tenancy::Category {
            name: "loyalty".into(),
            keywords: vec!["pontos".into(), "ouro".into()],
        });
        assert_eq!(BuiltinTriage.classify(&i).category, "loyalty");
    }

    #[test]
    fn nothing_recognisable_is_general() {
        assert_eq!(BuiltinTriage.classify(&input("xyz")).category, "general");
    }

    #[test]
    fn english_replies_in_english() {
        let mut i = input("My package arrived damaged");
        i.locale = Locale::En;
        let r = BuiltinTriage.classify(&i);
        assert_eq!(r.category, "orders_delivery");
        assert!(r.reply.unwrap().starts_with("Hi Zé,"));
    }
}
