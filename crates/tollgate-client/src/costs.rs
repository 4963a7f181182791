//! The cost summaries: a UTC day's or month's costs from the rollups, and the cost report of
//! this month or of everything. Money arrives as exact decimal strings per currency.

use tollgate_api::billing::{CostReport, ReportQuery};
use tollgate_api::usage::{DailyCosts, DailyCostsQuery, MonthlyCosts, MonthlyCostsQuery};

use super::{Client, ClientError};

impl Client {
    /// `GET /api/v1/costs/daily`: one UTC day's totals, by provider, model and tool.
    pub async fn costs_daily(&self, query: &DailyCostsQuery) -> Result<DailyCosts, ClientError> {
        self.get_query("/api/v1/costs/daily", query).await
    }

    /// `GET /api/v1/costs/monthly`: one UTC month's totals, by day, provider, model and tool.
    pub async fn costs_monthly(
        &self,
        query: &MonthlyCostsQuery,
    ) -> Result<MonthlyCosts, ClientError> {
        self.get_query("/api/v1/costs/monthly", query).await
    }

    /// `GET /api/v1/billing/cost-report`: totals by provider and by model, this month or ever.
    pub async fn cost_report(&self, query: &ReportQuery) -> Result<CostReport, ClientError> {
        self.get_query("/api/v1/billing/cost-report", query).await
    }
}
