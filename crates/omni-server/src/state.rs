//! What every handler can reach, and the one place where ports meet their adapters.

use std::sync::Arc;
use std::time::Duration;

use omni_core::SystemClock;
use omni_crypto::{AesGcmCipher, Argon2Hasher, HmacLinkSigner, JwtIssuer};
use omni_identity::IdentityService;
use omni_messaging::{
    JobHandler, JobQueue, MessagingPorts, MessagingService, SurveyJob, TriageJob,
};
use omni_outbound::GuardedClient;
use omni_reports::ReportService;
use omni_store_postgres::{
    Database, PgCompanyRepository, PgIntegrationRepository, PgJobQueue, PgMessageStore,
    PgReportStore, PgTicketRepository, PgUploadStore, PgUserRepository,
};
use omni_tenancy::{CompanyService, IntegrationService, VerifierByProvider};
use omni_ticketing::TicketService;
use omni_twilio::{TwilioClient, TwilioSignatures};
use omni_vera::{VeraClient, VeraEngines};

use crate::config::Config;
use crate::limits::AuthLimits;

/// Shared application state, one per process (cloned into each worker as `web::Data`).
pub struct AppState {
    /// The PostgreSQL pool.
    pub db: Database,
    /// The validated configuration.
    pub config: Config,
    /// Accounts, login and users.
    pub identity: IdentityService,
    /// Companies and their settings.
    pub companies: CompanyService,
    /// Channel and AI integrations.
    pub integrations: IntegrationService,
    /// Tickets.
    pub tickets: TicketService,
    /// Messages: inbound, outbound, delivery.
    pub messaging: MessagingService,
    /// Reports, and the tallies behind them.
    pub reports: Arc<ReportService>,
    /// The durable job queue.
    pub jobs: Arc<dyn JobQueue>,
    /// Runs a job with the use case it names (sends, triage).
    pub job_handler: JobHandler,
    /// Brute-force limits of the auth routes.
    pub limits: AuthLimits,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Wires the real adapters: PostgreSQL repositories, argon2id, HS256 tokens.
    pub fn new(config: Config) -> anyhow::Result<Self> {
        let db = Database::new(config.database.clone())?;
        let hasher = Arc::new(
            Argon2Hasher::new()?.limited(config.auth.max_concurrent_hashes, config.auth.hash_wait),
        );
        let tokens = Arc::new(JwtIssuer::new(
            config.auth.jwt_secret.expose(),
            config.auth.token_ttl,
            Arc::new(SystemClock),
        ));
        let identity = IdentityService::new(
            Arc::new(PgUserRepository::new(db.clone())),
            hasher,
            tokens,
            config.auth.allow_registration,
        );
        let company_repo = Arc::new(PgCompanyRepository::new(db.clone()));
        let companies = CompanyService::new(company_repo.clone());
        let ticket_repo = Arc::new(PgTicketRepository::new(db.clone()));
        let tickets = TicketService::new(ticket_repo.clone(), company_repo.clone());
        let previous: Vec<[u8; 32]> = config
            .crypto_previous_keys
            .iter()
            .map(|k| *k.expose())
            .collect();
        let cipher = Arc::new(AesGcmCipher::new(config.crypto_key.expose(), &previous));
        let guarded = GuardedClient::new(config.outbound.clone())
            .map_err(|e| anyhow::anyhow!("cannot build the outbound client: {e}"))?;
        let vera_client = VeraClient::new(guarded);
        let twilio = TwilioClient::new(&config.twilio_api_base_url, Duration::from_secs(10))?
            .with_messaging_base(&config.twilio_messaging_base_url)
            .with_content_base(&config.twilio_content_base_url)
            .with_media_limit(config.twilio_media_max_bytes);
        let verifier = Arc::new(VerifierByProvider::new(
            Arc::new(twilio.clone()),
            Arc::new(vera_client.clone()),
        ));
        let mut integrations = IntegrationService::new(
            Arc::new(PgIntegrationRepository::new(db.clone())),
            cipher,
            verifier,
        );
        if !config.twilio_confirm_numbers {
            tracing::warn!(
                "twilio.confirm_numbers is off: integrations route numbers Twilio was not asked about"
            );
            integrations = integrations.without_number_confirmation();
        }
        let message_store = Arc::new(PgMessageStore::new(db.clone()));
        let twilio = Arc::new(twilio);
        let messaging = MessagingService::new(
            MessagingPorts {
                store: message_store.clone(),
                integrations: integrations.clone(),
                sender: twilio.clone(),
                media: twilio.clone(),
                templates: twilio,
                webhooks: Arc::new(TwilioSignatures),
                uploads: Arc::new(PgUploadStore::new(db.clone())),
                links: Arc::new(HmacLinkSigner::derived_from(config.crypto_key.expose())),
            },
            &config.http.public_base_url,
        )
        .with_upload_quota(config.worker.upload_quota_bytes);
        let jobs: Arc<dyn JobQueue> = Arc::new(PgJobQueue::new(db.clone()));
        let reports = Arc::new(ReportService::new(
            Arc::new(PgReportStore::new(db.clone())),
            company_repo.clone(),
            Arc::new(SystemClock),
        ));
        let survey = SurveyJob::new(
            ticket_repo.clone(),
            company_repo.clone(),
            message_store.clone(),
        );
        let triage = TriageJob::new(
            ticket_repo,
            company_repo,
            message_store,
            integrations.clone(),
            Arc::new(VeraEngines::new(vera_client)),
        );
        let job_handler = JobHandler::new(messaging.clone(), triage, survey);
        let limits = AuthLimits::new(&config.limits);
        Ok(Self {
            limits,
            db,
            config,
            messaging,
            jobs,
            job_handler,
            identity,
            companies,
            integrations,
            tickets,
            reports,
        })
    }
}
