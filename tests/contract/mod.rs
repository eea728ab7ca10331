//! The port contract: scenarios that every `Database` adapter must pass, and a small one for
//! `EdgeStore` adapters.
//!
//! Each scenario is `pub async fn the_name_as_a_sentence<D: Database>(db: &D)`, starts from a
//! store in the state the migrations leave (the app `public` with its tenant `public`), uses
//! the ports only, and is deterministic (fixed ids, times and secrets; see `fixtures`). A test
//! crate declares `mod contract;` at its root and expands one suite per adapter:
//!
//! ```ignore
//! contract::contract_suite!(memory, tessera::store::memory::MemoryStore::seeded);
//! contract::contract_suite!(sqlite, crate::support::sqlite::sqlite_store);
//! contract::edge_suite!(memory_kv, crate::memory_edge);
//! ```
//!
//! The factory is a path (or any expression) that names the function from inside the module
//! the macro creates, so use `crate::…` or an extern crate's path; each `#[test]` calls it
//! once for a fresh store and runs one scenario with `futures_executor::block_on`.
#![allow(
    dead_code,
    unused_macros,
    unused_imports,
    reason = "each test crate that includes the contract expands only the suites it needs"
)]

pub mod deletion;
pub mod edge;
pub mod edge_sync;
pub mod email;
pub mod fixtures;
pub mod maintenance;
pub mod oauth;
pub mod oauth_approval;
pub mod operators;
pub mod steps;
pub mod tenancy;
pub mod thirdparty;
pub mod user_state;
pub mod users;

/// One `#[test]` per `module::scenario`, each on a fresh store from `$factory`.
macro_rules! scenarios {
    ($factory:expr; $($module:ident :: $scenario:ident),* $(,)?) => {
        $(
            #[test]
            fn $scenario() {
                let store = ($factory)();
                futures_executor::block_on(crate::contract::$module::$scenario(&store));
            }
        )*
    };
}

/// Every `Database` scenario, as a module `$name` of tests on stores made by `$factory`.
macro_rules! contract_suite {
    ($name:ident, $factory:expr) => {
        mod $name {
            crate::contract::scenarios! { $factory;
                tenancy::a_fresh_store_has_the_public_app_and_its_public_tenant,
                tenancy::an_app_is_created_once_with_its_public_tenant,
                tenancy::app_settings_are_replaced_only_for_an_existing_app,
                tenancy::apps_are_listed_by_id_in_pages,
                tenancy::tenants_are_created_once_updated_and_listed_by_id,
                tenancy::api_keys_are_found_by_hash_listed_by_id_and_deleted_once,
                tenancy::signing_keys_are_returned_newest_first_per_owner,
                tenancy::deleting_a_tenant_removes_everything_of_it_and_nothing_of_others,
                tenancy::a_tenant_recreated_under_the_same_id_starts_empty,
                operators::only_one_platform_owner_can_ever_be_created,
                operators::an_operator_password_is_replaced,
                operators::clearing_an_operator_email_forgets_its_failures_and_nothing_else,
                operators::operator_sign_ins_are_counted_before_hashing_and_settled_on_success,
                operators::an_invitation_holds_its_email_in_the_app_until_it_is_left,
                operators::an_expired_invitation_is_released_by_a_new_invitation_of_the_same_email,
                operators::an_invitation_is_accepted_only_once_and_only_before_it_expires,
                operators::an_existing_operator_accepts_an_invitation_without_a_new_account,
                operators::a_membership_changes_only_from_its_expected_status,
                operators::two_admins_demoting_each_other_leave_exactly_one_admin,
                operators::the_last_admin_guard_counts_only_active_app_wide_admins,
                operators::grants_are_the_memberships_that_are_not_left,
                operators::members_are_listed_by_id_in_pages,
                users::signing_up_writes_the_user_its_face_its_session_and_its_token_together,
                users::a_duplicate_email_in_the_tenant_writes_nothing_at_all,
                users::a_password_hash_is_replaced,
                users::sign_in_attempts_past_the_free_ones_are_refused_uncounted_with_retry_after,
                users::a_burst_of_attempts_gets_at_most_the_free_ones_through,
                users::retry_after_is_the_later_of_the_blocked_subjects,
                users::a_count_left_alone_for_longer_than_a_day_starts_again,
                users::sign_in_counters_are_kept_per_tenant,
                users::a_blocked_client_adds_no_count_for_the_emails_it_tries,
                maintenance::dead_sessions_go_with_their_refresh_tokens_in_bounded_batches,
                maintenance::counters_go_once_they_neither_block_nor_count,
                maintenance::old_billing_events_and_audit_entries_go_after_their_retention,
                users::a_success_clears_the_account_and_gives_the_client_one_attempt_back,
                users::settling_a_refused_sign_in_gives_the_attempt_back_without_a_session,
                users::sign_ups_are_counted_per_client_and_tenant,
                users::twenty_rotations_from_one_generation_succeed_exactly_once,
                users::a_revoked_session_cannot_rotate,
                users::the_current_token_of_a_live_session_rotates_in_one_call,
                users::a_refresh_sees_the_users_status_in_the_sessions_tenant,
                user_state::roles_and_plans_are_written_replaced_and_read_as_the_policy,
                user_state::tenant_users_are_listed_by_user_id_in_pages_with_filters,
                user_state::an_email_prefix_lists_the_emails_within_the_prefix_in_email_order,
                user_state::a_face_changes_only_from_its_expected_version,
                user_state::a_user_is_associated_with_another_tenant_once,
                user_state::an_imported_user_has_no_session_and_its_email_is_then_taken,
                user_state::revoking_a_users_sessions_revokes_the_live_ones_of_that_tenant,
                user_state::metadata_round_trips_and_defaults_to_an_empty_object,
                user_state::the_webhook_secret_round_trips_and_is_replaced,
                user_state::a_plan_event_is_applied_once,
                user_state::the_audit_log_lists_newest_first_per_app_and_tenant_with_a_cursor,
                user_state::refused_changes_leave_no_audit_entry_and_done_changes_leave_one,
                edge_sync::every_change_a_document_mirrors_bumps_its_version,
                edge_sync::a_lease_reads_what_the_document_must_say,
                edge_sync::only_the_last_writer_of_the_current_version_closes_a_document,
                edge_sync::a_writer_that_was_overtaken_reopens_the_document,
                edge_sync::an_overtaken_writer_that_finishes_first_keeps_the_document_open,
                edge_sync::the_sweep_lists_open_documents_and_takes_back_dead_leases,
                edge_sync::the_policy_document_is_leased_with_the_policy,
                edge_sync::a_new_signing_key_bumps_its_owners_keys_document_leased_with_the_keys,
                edge_sync::me_finds_the_user_only_through_a_live_session_of_it,
                email::the_email_delivery_defaults_to_none_and_is_replaced_with_an_audit_entry,
                email::outbox_messages_are_kept_once_listed_newest_first_and_leave_with_the_outbox,
                email::dead_letters_are_kept_once_listed_newest_first_and_pruned,
                email::sends_are_counted_in_fixed_windows_per_address_and_client,
                email::a_challenge_names_the_account_of_its_email_in_its_plane,
                email::a_code_try_counts_on_an_open_attempt_and_on_its_subjects,
                email::a_link_try_finds_only_an_open_challenge_of_its_purpose_and_plane,
                email::a_verification_is_consumed_once_and_marks_the_email_verified,
                email::a_reset_is_consumed_once_and_revokes_the_users_sessions_of_its_tenant,
                email::an_operator_reset_is_consumed_once_and_dated,
                email::a_passwordless_sign_in_writes_its_session_only_with_the_consume,
                email::a_passwordless_sign_up_writes_the_user_once_and_never_over_a_taken_email,
                email::a_password_change_revokes_every_other_live_session_of_the_tenant,
                email::live_sessions_are_listed_newest_first_without_revoked_or_expired_ones,
                email::a_user_is_found_by_email_in_its_tenant_only,
                email::the_clean_up_forgets_expired_challenges_ended_windows_and_old_messages,
                email::deleting_a_tenant_forgets_its_email_state,
                thirdparty::a_provider_is_created_replaced_in_place_listed_and_deleted_with_audit,
                thirdparty::a_flow_is_taken_once_and_pruned_once_expired,
                thirdparty::a_flow_step_counts_the_client_and_finds_the_provider,
                thirdparty::a_sign_up_writes_the_user_its_identity_and_session_only_over_a_free_email,
                thirdparty::a_takeover_link_removes_the_password_and_revokes_the_other_sessions,
                thirdparty::a_plain_link_keeps_the_password_and_sessions,
                thirdparty::identities_go_with_their_provider_issuer_face_and_tenant,
                thirdparty::a_users_deletion_takes_its_identities_with_its_faces,
                email::an_operator_verification_is_consumed_once_and_makes_its_signed_up_apps_usable,
                operators::the_bootstrap_makes_the_platform_owner_the_owner_of_public,
                operators::operator_roles_are_defined_replaced_listed_and_bounded_in_number,
                operators::a_bound_role_cannot_be_deleted_and_a_membership_binds_only_defined_roles,
                operators::a_membership_type_is_written_with_its_status_and_roles,
                operators::grants_carry_their_custom_roles_and_whether_their_app_waits_for_its_owner,
                operators::operator_sign_up_writes_the_app_its_tenant_the_operator_and_its_membership_once,
                operators::operator_sign_ups_are_counted_per_client,
                deletion::a_deleted_tenant_is_gone_at_once_and_no_namesake_is_made_until_its_row_goes,
                deletion::each_purge_deletes_at_most_its_limit_and_only_what_its_target_covers,
                deletion::an_app_deletion_removes_every_row_of_the_app_and_nothing_of_another,
                deletion::a_users_first_step_takes_its_faces_and_email_traces_in_scope_and_the_user_with_its_last_face,
                deletion::an_erasure_begins_only_when_its_tenants_are_every_face_of_the_user,
                deletion::the_edge_documents_of_a_target_are_found_by_name_in_pages_and_forgotten,
                deletion::an_erasure_makes_the_audit_entries_naming_the_user_name_the_deletion_in_batches,
                deletion::a_deletion_records_its_progress_forgets_its_user_when_done_and_is_pruned_later,
                deletion::a_tenant_deletion_left_from_before_its_app_was_made_again_finds_nothing_of_the_namesake,
                oauth::oauth_settings_round_trip_and_an_unknown_tenant_has_none,
                oauth::clients_are_created_once_found_in_their_tenant_and_listed_by_id_in_pages,
                oauth::an_update_keeps_the_secret_hash_type_method_creation_and_revocation_time,
                oauth::two_interleaved_updates_of_a_client_lose_neither,
                oauth::a_secret_rotation_replaces_the_hash_only_over_the_version_it_read,
                oauth::ending_a_clients_grants_revokes_its_live_sessions_codes_and_tokens_and_bumps_its_users_documents,
                oauth::deleting_a_client_takes_its_codes_and_consents_and_revokes_its_live_sessions,
                oauth::a_code_needs_its_users_face_and_is_redeemed_once,
                oauth::an_expired_code_or_one_of_a_suspended_user_is_not_redeemed,
                oauth::a_consent_is_put_replaced_and_found_only_for_a_face,
                oauth::codes_expired_before_a_time_are_pruned_in_bounded_batches,
                oauth::a_presented_token_rotates_only_for_the_holder_of_its_session,
                oauth::a_users_deletion_from_a_tenant_takes_its_codes_and_consents_there_only,
                oauth::a_tenant_deletion_takes_its_settings_clients_codes_consents_and_grants,
                oauth::an_app_deletion_takes_every_oauth_row_of_the_app_and_nothing_of_another,
                oauth::a_private_key_jwt_clients_keys_round_trip_and_its_assertions_are_used_once_until_pruned,
                oauth_approval::an_approval_writes_its_code_and_its_consent_together_or_neither,
            }
        }
    };
}

/// Every `EdgeStore` scenario, as a module `$name` of tests on edge stores made by `$factory`.
macro_rules! edge_suite {
    ($name:ident, $factory:expr) => {
        mod $name {
            crate::contract::scenarios! { $factory;
                edge::an_edge_document_round_trips_per_tenant_and_is_withdrawn,
                edge::the_policy_mirror_round_trips,
                edge::an_api_key_is_published_and_withdrawn,
                edge::public_keys_are_replaced_per_owner,
                edge::app_and_tenant_mirrors_round_trip_and_are_withdrawn,
                edge::policy_and_public_keys_are_withdrawn,
            }
        }
    };
}

pub(crate) use {contract_suite, edge_suite, scenarios};
