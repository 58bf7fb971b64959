//! What Twilio's delivery error codes mean to an agent. A status callback carries the code
//! alone (`ErrorCode`, rarely an `ErrorMessage`): a failed reply showing only "63016" tells
//! the agent nothing. The codes an agent can act on get a sentence saying what happened and
//! what to do; others keep Twilio's number (and its documentation, at
//! `https://www.twilio.com/docs/api/errors/<code>`).

/// What a Twilio error code means for the reply it failed, in a sentence an agent can act
/// on; `None` for codes without one here.
pub fn describe(code: i32) -> Option<&'static str> {
    Some(match code {
        63016 => {
            "outside WhatsApp's 24-hour customer-service window: only an approved template \
             can reach the customer until they write again"
        }
        63024 => "not a valid WhatsApp recipient: check the customer's number",
        63003 => "the number is not on WhatsApp",
        63018 => "too many messages from this WhatsApp number at once: send it again later",
        21610 => "the customer opted out of messages from this number (replied STOP)",
        21211 => "the customer's number is not a valid phone number",
        30003 => "the customer's phone is unreachable (off or out of coverage)",
        30004 => "the message was blocked (the customer blocked this number, or their carrier)",
        30005 => "the customer's number is unknown to their carrier or no longer in use",
        30006 => "the number is a landline or its carrier cannot receive messages",
        30007 => "the customer's carrier filtered the message",
        30008 => "delivery failed for a reason Twilio does not know: send it again later",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_an_agent_can_act_on_are_explained_and_others_are_not_invented() {
        assert!(describe(63016).unwrap().contains("template"));
        assert!(describe(21610).unwrap().contains("opted out"));
        assert!(describe(63024).is_some());
        assert_eq!(describe(12345), None);
    }
}
