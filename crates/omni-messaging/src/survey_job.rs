use std::sync::Arc;

use chrono::Utc;
use omni_core::TicketId;
use omni_tenancy::CompanyRepository;
use omni_ticketing::TicketRepository;

use crate::{DeliverError, MessageContent, MessageStore, job_reads};

/// The satisfaction survey: queued when an agent resolves a ticket of a company that asks
/// its customers (`settings.csat.enabled`), it sends the company's question once on the
/// customer's channel, through the outbound path — only while the ticket is still resolved
/// and can be answered (on WhatsApp, within the 24-hour window). The customer's answer
/// within a day rates the ticket (see `omni_ticketing::Ticket::awaits_rating`).
#[derive(Clone)]
pub struct SurveyJob {
    tickets: Arc<dyn TicketRepository>,
    companies: Arc<dyn CompanyRepository>,
    messages: Arc<dyn MessageStore>,
}

impl SurveyJob {
    /// The job over these ports.
    pub fn new(
        tickets: Arc<dyn TicketRepository>,
        companies: Arc<dyn CompanyRepository>,
        messages: Arc<dyn MessageStore>,
    ) -> Self {
        Self {
            tickets,
            companies,
            messages,
        }
    }

    /// Asks one ticket's customer; an error means "run again later".
    #[tracing::instrument(skip_all, fields(ticket_id = %ticket_id))]
    pub async fn run(&self, ticket_id: TicketId) -> Result<(), DeliverError> {
        let Some(ticket) = job_reads::ticket(self.tickets.as_ref(), ticket_id).await? else {
            return Ok(());
        };
        if !ticket.survey_due(Utc::now()) {
            return Ok(());
        }
        let Some(company) = job_reads::company(self.companies.as_ref(), ticket.company_id).await?
        else {
            return Ok(());
        };
        let csat = &company.settings.csat;
        if !csat.enabled {
            return Ok(());
        }
        // The settings checked the question; one that no longer fits a message is not sent.
        let Ok(question) = MessageContent::parse(csat.question_in(company.settings.locale)) else {
            tracing::warn!("the satisfaction question does not fit a message; not sent");
            return Ok(());
        };
        self.messages
            .record_survey(ticket_id, question)
            .await
            .map_err(job_reads::later)?;
        Ok(())
    }
}
