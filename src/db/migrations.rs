//! Running a database's migrations, counting what they changed, so that a
//! start can log it and `imaged migrate` can say it.

use sqlx::{
    Database, Pool,
    migrate::{Migrate, MigrateError, Migrator},
};

/// What bringing a database's tables up to date did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    /// Migrations applied before.
    pub found: usize,
    /// Migrations applied now.
    pub applied: usize,
}

/// Runs `migrator` on `pool`.
pub async fn run<DB>(migrator: &Migrator, pool: &Pool<DB>) -> Result<Migrated, MigrateError>
where
    DB: Database,
    DB::Connection: Migrate,
{
    let found = applied(migrator, pool).await?;
    migrator.run(pool).await?;
    // Another host may have applied some meanwhile: never below nothing.
    let applied = applied(migrator, pool).await?.saturating_sub(found);
    if applied > 0 {
        tracing::info!(found, applied, "database migrated");
    }
    Ok(Migrated { found, applied })
}

async fn applied<DB>(migrator: &Migrator, pool: &Pool<DB>) -> Result<usize, MigrateError>
where
    DB: Database,
    DB::Connection: Migrate,
{
    let mut conn = pool.acquire().await?;
    conn.ensure_migrations_table(&migrator.table_name).await?;
    Ok(conn.list_applied_migrations(&migrator.table_name).await?.len())
}
