use std::sync::Arc;

use omni_core::{PageRequest, TicketId};
use omni_tenancy::{CompanyRepository, IntegrationConfig, IntegrationService};
use omni_ticketing::{TicketRepository, TriageInput};

use crate::{DeliverError, MessageContent, MessageStore, TriageEngines, job_reads};

/// How many of the customer's latest messages triage reads.
const MESSAGES_READ: i64 = 20;

/// The triage job: runs for a new ticket and for one the customer reopened. Writes the
/// result on the ticket (leaving fields an agent set by hand), and, when the company wants
/// auto-replies and no agent has answered yet, sends triage's reply once — the result and
/// the reply in one unit of work ([`MessageStore::record_triage`]).
#[derive(Clone)]
pub struct TriageJob {
    tickets: Arc<dyn TicketRepository>,
    companies: Arc<dyn CompanyRepository>,
    messages: Arc<dyn MessageStore>,
    integrations: IntegrationService,
    engines: Arc<dyn TriageEngines>,
}

impl TriageJob {
    /// The job over these ports.
    pub fn new(
        tickets: Arc<dyn TicketRepository>,
        companies: Arc<dyn CompanyRepository>,
        messages: Arc<dyn MessageStore>,
        integrations: IntegrationService,
        engines: Arc<dyn TriageEngines>,
    ) -> Self {
        Self {
            tickets,
            companies,
            messages,
            integrations,
            engines,
        }
    }

    /// Triage one ticket; an error means "run again later".
    #[tracing::instrument(skip_all, fields(ticket_id = %ticket_id))]
    pub async fn run(&self, ticket_id: TicketId) -> Result<(), DeliverError> {
        let Some(ticket) = job_reads::ticket(self.tickets.as_ref(), ticket_id).await? else {
            return Ok(());
        };
        let Some(company) = job_reads::company(self.companies.as_ref(), ticket.company_id).await?
        else {
            return Ok(());
        };
        let texts = self
            .messages
            .customer_texts(ticket_id, MESSAGES_READ)
            .await
            .map_err(job_reads::later)?;
        if texts.is_empty() {
            return Ok(());
        }
        let vera = self.vera_of(&ticket).await?;
        let input = TriageInput {
            messages: texts,
            customer_name: ticket.customer_name.clone(),
            locale: company.settings.locale,
            categories: company.settings.categories.clone(),
        };
        let result = self
            .engines
            .engine(vera)
            .triage(&input)
            .await
            .map_err(job_reads::later)?;
        // A reply that is not a valid message (empty, too long) is not sent at all.
        let reply = result
            .reply
            .as_deref()
            .filter(|_| company.settings.auto_reply)
            .and_then(|text| MessageContent::parse(text).ok());
        self.messages
            .record_triage(ticket_id, &result, reply)
            .await
            .map_err(job_reads::later)?;
        Ok(())
    }

    async fn vera_of(
        &self,
        ticket: &omni_ticketing::Ticket,
    ) -> Result<Option<(omni_tenancy::VeraConfig, omni_tenancy::SecretString)>, DeliverError> {
        let page = PageRequest {
            limit: omni_core::Limit::new(200).unwrap_or_default(),
            cursor: None,
        };
        let integrations = self
            .integrations
            .list_for_company(ticket.company_id, page)
            .await
            .map_err(job_reads::later)?;
        for integration in integrations {
            if let (true, IntegrationConfig::Vera(config)) =
                (integration.enabled, &integration.config)
            {
                let secrets = self
                    .integrations
                    .secrets(&integration)
                    .map_err(job_reads::later)?;
                if let Some(vera) = secrets.vera() {
                    return Ok(Some((config.clone(), vera.api_key.clone())));
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use omni_core::{CompanyId, DisplayName, Page};
    use omni_tenancy::{
        Company, CompanySettings, MockCompanyRepository, MockCredentialVerifier,
        MockIntegrationRepository, MockSecretCipher,
    };
    use omni_ticketing::{
        Channel, MockTicketRepository, MockTriage, Priority, Sentiment, Ticket, TicketStatus,
        TriageResult,
    };

    use super::*;
    use crate::{MockMessageStore, MockTriageEngines};

    const A: CompanyId = CompanyId::new(1);

    fn ticket(first_response: bool) -> Ticket {
        Ticket {
            id: TicketId::new(7),
            company_id: A,
            integration_id: None,
            customer_phone: "+5511987650001".parse().unwrap(),
            customer_name: Some("Zé".into()),
            channel: Channel::Whatsapp,
            status: TicketStatus::New,
            priority: Priority::Medium,
            category: None,
            sentiment: None,
            sentiment_score: None,
            suggested_categories: serde_json::json!([]),
            assigned_to: None,
            last_message_at: None,
            window_closes_at: None,
            last_activity_at: Utc::now(),
            first_response_at: first_response.then(Utc::now),
            resolved_at: None,
            reopened_at: None,
            survey_sent_at: None,
            suggested_reply: None,
            rating: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            version: 1,
            hand_set: omni_ticketing::HandSet::default(),
        }
    }

    fn result(reply: &'static str) -> TriageResult {
        TriageResult {
            category: "billing".into(),
            priority: Priority::Urgent,
            sentiment: Sentiment::Negative,
            sentiment_score: -0.8,
            suggested_categories: vec![],
            reply: Some(reply.into()),
            engine: "mock".into(),
        }
    }

    /// The job over mocks: the company wants auto-replies or not, the engine answers with
    /// `reply`, and the store must be asked to record the result with `wanted` as the reply.
    fn job(auto_reply: bool, reply: &'static str, wanted: Option<&'static str>) -> TriageJob {
        let mut tickets = MockTicketRepository::new();
        tickets
            .expect_find()
            .returning(move |_, _| Ok(Some(ticket(false))));
        let mut companies = MockCompanyRepository::new();
        companies.expect_find().returning(move |_, id| {
            let settings = CompanySettings {
                auto_reply,
                ..CompanySettings::default()
            };
            Ok(Some(Company {
                id,
                name: DisplayName::parse("Acme").unwrap(),
                settings,
                created_at: Utc::now(),
                updated_at: Utc::now(),
            }))
        });
        let mut store = MockMessageStore::new();
        store
            .expect_customer_texts()
            .returning(|_, _| Ok(vec!["fui cobrado duas vezes".into()]));
        store
            .expect_record_triage()
            .withf(move |id, r, reply| {
                *id == TicketId::new(7)
                    && r.category == "billing"
                    && reply.as_ref().map(MessageContent::as_str) == wanted
            })
            .times(1)
            .returning(move |_, _, _| {
                Ok(Some(crate::TriageRecorded {
                    ticket: ticket(false),
                    reply: None,
                }))
            });
        let store: Arc<dyn MessageStore> = Arc::new(store);
        let mut repo = MockIntegrationRepository::new();
        repo.expect_list().returning(|_, _| {
            Ok(Page {
                data: vec![],
                next_cursor: None,
            })
        });
        let integrations = IntegrationService::new(
            Arc::new(repo),
            Arc::new(MockSecretCipher::new()),
            Arc::new(MockCredentialVerifier::new()),
        );
        let mut engines = MockTriageEngines::new();
        engines
            .expect_engine()
            .withf(|vera| vera.is_none())
            .returning(move |_| {
                let mut triage = MockTriage::new();
                triage.expect_triage().returning(move |_| Ok(result(reply)));
                Arc::new(triage)
            });
        TriageJob::new(
            Arc::new(tickets),
            Arc::new(companies),
            store,
            integrations,
            Arc::new(engines),
        )
    }

    #[tokio::test]
    async fn the_result_is_recorded_with_the_reply_when_the_company_wants_one() {
        let reply = "Olá! Já vamos ver.";
        job(true, reply, Some(reply))
            .run(TicketId::new(7))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn no_reply_is_asked_for_when_the_company_said_no_or_it_is_no_message() {
        job(false, "Olá! Já vamos ver.", None)
            .run(TicketId::new(7))
            .await
            .unwrap();
        job(true, "   ", None).run(TicketId::new(7)).await.unwrap();
    }
}
