from django.urls import path
from django.views.i18n import set_language

from kaohe.front.views import (
    accounts,
    apikeys,
    audit,
    company,
    fact_import,
    metrics,
    people,
    people_io,
    roles,
    targets,
)

app_name = "front"

urlpatterns = [
    path("", people.home, name="home"),
    path("login/", accounts.login_view, name="login"),
    path("logout/", accounts.logout_view, name="logout"),
    path("lang/", set_language, name="set_language"),
    path("invite/<str:token>/", accounts.accept_invitation, name="accept_invitation"),
    path("me/", people.my_profile, name="my_profile"),
    path("me/password/", accounts.change_password, name="change_password"),
    path("me/evidence/", audit.my_evidence, name="my_evidence"),
    path("me/attainment/", targets.my_attainment, name="my_attainment"),
    path("audit/", audit.audit_log, name="audit_log"),
    path("audit/entries/<int:index>/", audit.entry_detail, name="ledger_entry"),
    path("audit/entries/<int:index>/proof.json", audit.entry_proof, name="ledger_entry_proof"),
    path("org/", people.org_tree, name="org_tree"),
    path("people/", people.employee_list, name="employee_list"),
    path("people/export.xlsx", people_io.export_people, name="export_people"),
    path("people/import/", people_io.import_people, name="import_people"),
    path("facts/import/", fact_import.import_facts, name="import_facts"),
    path("people/<str:employee_no>/", people.employee_detail, name="employee_detail"),
    path("people/<str:employee_no>/invite/", accounts.invite, name="invite"),
    path(
        "people/<str:employee_no>/attainment/",
        targets.employee_attainment,
        name="employee_attainment",
    ),
    path("people/<str:employee_no>/targets/", targets.agreements, name="agreements"),
    path("people/<str:employee_no>/targets/<str:period>/", targets.agreement, name="agreement"),
    path(
        "people/<str:employee_no>/targets/<str:period>/publish/",
        targets.publish,
        name="agreement_publish",
    ),
    path(
        "people/<str:employee_no>/targets/<str:period>/revise/",
        targets.revise,
        name="agreement_revise",
    ),
    path(
        "people/<str:employee_no>/targets/<str:period>/discard/",
        targets.discard,
        name="agreement_discard",
    ),
    path("targets/bulk/", targets.bulk_assign, name="bulk_assign"),
    path("settings/metrics/", metrics.metric_list, name="metric_list"),
    path("settings/metrics/new/", metrics.metric_edit, name="metric_new"),
    path("settings/metrics/<str:code>/", metrics.metric_edit, name="metric_edit"),
    path("settings/company/", company.company_settings, name="company_settings"),
    path("settings/company/workdays/", company.workday_override, name="workday_override"),
    path(
        "settings/company/workdays/<str:day>/remove/",
        company.remove_workday_override,
        name="remove_workday_override",
    ),
    path("settings/roles/", roles.roles, name="roles"),
    path("settings/roles/<int:assignment_id>/revoke/", roles.revoke_role, name="revoke_role"),
    path("settings/api-keys/", apikeys.api_keys, name="api_keys"),
    path("settings/api-keys/<uuid:key_id>/revoke/", apikeys.revoke, name="revoke_api_key"),
]
