//! Reading the lake: production tables over a range of days (for the
//! dashboards and the asset page) and the admins' read-only SQL, both with
//! DataFusion over the Parquet files of the plugin's object storage.

use std::sync::Arc;
use std::time::Duration;

use cdlc_plugin_api::utoipa::{self, ToSchema};
use cdlc_plugin_api::Objects;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef, UInt64Type};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::datasource::MemTable;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::DFParser;
use serde::Serialize;

use crate::lake::{self, Day};
use crate::pipeline::PRODUCTION;
use crate::{event, parquet_io, LakeError};

/// Rows of a table or a query, ready for JSON.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Rows {
    pub columns: Vec<String>,
    #[schema(value_type = Vec<Vec<Object>>)]
    pub rows: Vec<Vec<serde_json::Value>>,
    /// Whether rows were left out to keep within the row bound.
    pub truncated: bool,
}

/// The table's files of the days `from..=to`, in day order.
pub async fn production(
    objects: &dyn Objects,
    table: &str,
    from: Day,
    to: Day,
) -> Result<(SchemaRef, Vec<RecordBatch>), LakeError> {
    let mut listed = objects.list(&lake::production_prefix(table)).await?;
    listed.sort_by(|a, b| a.key.cmp(&b.key));
    let mut schema = None;
    let mut batches = Vec::new();
    for object in listed {
        let Some(day) = lake::day_of_key(&object.key) else { continue };
        if day < from || day > to {
            continue;
        }
        if let Some(data) = objects.get(&object.key).await? {
            let (file_schema, mut read) = parquet_io::read(data)?;
            schema.get_or_insert(file_schema);
            batches.append(&mut read);
        }
    }
    let schema = match schema {
        Some(schema) => schema,
        None => empty_schema(objects, table).await?,
    };
    Ok((schema, batches))
}

/// A table with no file in the range: the schema its SQL gives on no events.
async fn empty_schema(objects: &dyn Objects, table: &str) -> Result<SchemaRef, LakeError> {
    let _ = objects;
    let statement = PRODUCTION
        .iter()
        .find(|(name, _)| *name == table)
        .map(|(_, sql)| sql.replace("{day}", "1970-01-01"))
        .ok_or_else(|| LakeError::Failed(format!("no production table {table}")))?;
    let ctx = SessionContext::new();
    let empty = MemTable::try_new(event::schema(), vec![vec![]]).map_err(LakeError::query)?;
    ctx.register_table("events", Arc::new(empty)).map_err(LakeError::query)?;
    let frame = ctx.sql(&statement).await.map_err(LakeError::query)?;
    Ok(Arc::new(frame.schema().as_arrow().clone()))
}

/// The bounds of an admin's query.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub timeout: Duration,
    pub max_rows: usize,
    /// Memory the query may use before it fails (sorts and joins spill to nothing).
    pub max_memory: usize,
}

/// Runs one read-only SQL statement over the production tables (one
/// relation each, named as the table) and the validated `events` of
/// `from..=to`. DDL, DML and `SET` are refused; the statement runs for at
/// most `bounds.timeout`; at most `bounds.max_rows` rows come back.
pub async fn run_sql(
    objects: &dyn Objects,
    statement: &str,
    from: Day,
    to: Day,
    bounds: Bounds,
) -> Result<Rows, LakeError> {
    let statements = DFParser::parse_sql(statement).map_err(|e| LakeError::BadQuery(e.to_string()))?;
    if statements.len() != 1 {
        return Err(LakeError::BadQuery(format!("send one statement, not {}", statements.len())));
    }
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(bounds.max_memory)))
        .build_arc()
        .map_err(LakeError::query)?;
    let ctx = SessionContext::new_with_config_rt(SessionConfig::new().with_target_partitions(2), runtime);
    for (table, _) in PRODUCTION {
        let (schema, batches) = production(objects, table, from, to).await?;
        let table_data = MemTable::try_new(schema, vec![batches]).map_err(LakeError::query)?;
        ctx.register_table(*table, Arc::new(table_data)).map_err(LakeError::query)?;
    }
    let mut events = Vec::new();
    let mut day = from;
    while day <= to {
        if let Some(data) = objects.get(&lake::validated_key(day)).await? {
            events.append(&mut parquet_io::read(data)?.1);
        }
        day = day.plus(1);
    }
    let schema = events.first().map(|b| b.schema()).unwrap_or_else(event::schema);
    let table_data = MemTable::try_new(schema, vec![events]).map_err(LakeError::query)?;
    ctx.register_table("events", Arc::new(table_data)).map_err(LakeError::query)?;
    let options = datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let work = async {
        let frame =
            ctx.sql_with_options(statement, options).await.map_err(|e| LakeError::BadQuery(e.to_string()))?;
        let frame = frame.limit(0, Some(bounds.max_rows + 1)).map_err(LakeError::query)?;
        let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        let batches = frame.collect().await.map_err(|e| LakeError::BadQuery(e.to_string()))?;
        Ok::<_, LakeError>((schema, batches))
    };
    let (schema, batches) = tokio::time::timeout(bounds.timeout, work).await.map_err(|_| {
        LakeError::BadQuery(format!(
            "the query ran longer than {} ms: narrow the days or aggregate more",
            bounds.timeout.as_millis()
        ))
    })??;
    let mut rows = to_rows(&schema, &batches)?;
    if rows.rows.len() > bounds.max_rows {
        rows.rows.truncate(bounds.max_rows);
        rows.truncated = true;
    }
    Ok(rows)
}

/// The batches as JSON rows (numbers as numbers, the rest as text).
pub fn to_rows(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Rows, LakeError> {
    let columns = schema.fields().iter().map(|f| f.name().clone()).collect();
    let mut rows = Vec::new();
    let options = FormatOptions::default();
    for batch in batches {
        let mut table: Vec<Vec<serde_json::Value>> =
            vec![Vec::with_capacity(batch.num_columns()); batch.num_rows()];
        for column in batch.columns() {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &options).map_err(LakeError::arrow)?;
            for (row, out) in table.iter_mut().enumerate() {
                out.push(cell(column.as_ref(), &formatter, row));
            }
        }
        rows.extend(table);
    }
    Ok(Rows { columns, rows, truncated: false })
}

fn cell(column: &dyn Array, formatter: &ArrayFormatter, row: usize) -> serde_json::Value {
    if column.is_null(row) {
        return serde_json::Value::Null;
    }
    match column.data_type() {
        DataType::Int64 => column.as_primitive::<Int64Type>().value(row).into(),
        DataType::UInt64 => column.as_primitive::<UInt64Type>().value(row).into(),
        DataType::Float64 => serde_json::Number::from_f64(column.as_primitive::<Float64Type>().value(row))
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        DataType::Boolean => column.as_boolean().value(row).into(),
        _ => formatter.value(row).to_string().into(),
    }
}

/// Rows as CSV (RFC 4180: a header line, quoted where needed).
pub fn to_csv(rows: &Rows) -> String {
    let field = |text: &str| {
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_owned()
        }
    };
    let mut out = rows.columns.iter().map(|c| field(c)).collect::<Vec<_>>().join(",");
    out.push_str("\r\n");
    for row in &rows.rows {
        let cells: Vec<String> = row
            .iter()
            .map(|v| match v {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => field(s),
                other => other.to_string(),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}
