//! The `types` enums as Diesel values: each is stored as its wire spelling in a `Text`
//! column, and read back through `FromStr`, so no state is a `String` in a row struct.
//!
//! The impls are generic over the backend (any backend whose `str`/`String` are `Text`),
//! so a second backend needs no copy of them. A stored value that is not one of the
//! enum's spellings fails the read here, loudly (a deserialization error, answered as an
//! internal error), never replaced by a default. Imports: diesel, `types`.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

use crate::types::{
    Algorithm, ApprovalState, AuditAction, AuditResult, DeliveryStat, MfaTokenUsrStat, OobModeType,
    OobStat, OtpKind, ProviderKind, Role, SendStat, SessionOrigin, StaffAction, TokenType,
    UsrTokenStat,
};

/// Makes each `wire_enum!` type a `Text` value: `AsExpression` and `FromSqlRow` through
/// Diesel's foreign derive (on a proxy, since the type lives in `types`), `ToSql` and
/// `FromSql` by its spelling.
macro_rules! text_enum {
    ($($ty:ident),+ $(,)?) => {$(
        const _: () = {
            #[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
            #[diesel(foreign_derive)]
            #[diesel(sql_type = Text)]
            #[expect(dead_code, reason = "a proxy: only its derives are used")]
            struct Proxy($ty);
        };

        impl<DB: Backend> ToSql<Text, DB> for $ty
        where
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                <str as ToSql<Text, DB>>::to_sql(self.as_str(), out)
            }
        }

        impl<DB: Backend> FromSql<Text, DB> for $ty
        where
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let stored = <String as FromSql<Text, DB>>::from_sql(bytes)?;
                stored.parse().map_err(|_| {
                    format!("stored {} {stored:?} is not a known value", stringify!($ty)).into()
                })
            }
        }
    )+};
}

text_enum!(
    UsrTokenStat,
    MfaTokenUsrStat,
    TokenType,
    Algorithm,
    OobModeType,
    OobStat,
    SendStat,
    DeliveryStat,
    OtpKind,
    ProviderKind,
    SessionOrigin,
    AuditAction,
    AuditResult,
    Role,
    ApprovalState,
    StaffAction,
);

#[cfg(test)]
mod tests {
    use crate::storage::test_support::{new_token, temp_storage};
    use crate::storage::tokens::{find_token, find_token_status, insert_token};
    use crate::types::{TokenType, UsrTokenStat};
    use diesel::connection::SimpleConnection as _;

    #[test]
    fn enums_are_stored_as_their_wire_spelling_and_read_back() {
        let (_dir, storage) = temp_storage();
        let token = new_token("T1", "k", UsrTokenStat::Lock, "inst");
        let stored = storage
            .write(|c| {
                let pk = insert_token(c, &token)?;
                let raw: Vec<(String, String)> = {
                    use crate::storage::schema::tokens;
                    use diesel::prelude::*;
                    tokens::table
                        .select((tokens::status, tokens::token_type))
                        .load(c)?
                };
                Ok::<_, crate::storage::Error>((find_token_status(c, pk)?, raw))
            })
            .unwrap();
        assert_eq!(stored.0, Some(UsrTokenStat::Lock));
        assert_eq!(stored.1, [("Lock".to_owned(), "Hardware".to_owned())]);
        let read = storage.read(|c| find_token(c, "inst", "T1")).unwrap();
        assert_eq!(read.unwrap().token_type, TokenType::Hardware);
    }

    #[test]
    fn a_corrupt_stored_state_fails_the_read_instead_of_defaulting() {
        let (_dir, storage) = temp_storage();
        let token = new_token("T1", "k", UsrTokenStat::Act, "inst");
        storage
            .write(|c| {
                insert_token(c, &token)?;
                c.batch_execute("UPDATE tokens SET status = 'act'")?;
                Ok::<_, crate::storage::Error>(())
            })
            .unwrap();
        let read = storage.read(|c| find_token(c, "inst", "T1"));
        let err = format!("{:?}", read.unwrap_err());
        assert!(err.contains("deserializing field 'status'"), "{err}");
    }
}
