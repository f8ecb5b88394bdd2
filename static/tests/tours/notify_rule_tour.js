/** @odoo-module **/
/**
 * Create a notification rule through the UI, then preview it on a chosen contact.
 *
 * Driven by tests/test_tour.py, which creates beforehand the provider account and the contact
 * named below (mobile "6 90 00 00 02", country Cameroon) and checks the saved rule afterwards.
 */
import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";
import { checkPreview, pickInAutocomplete } from "@notify_rules/../tests/tours/preview_helpers";

const ACCOUNT = "Tour WAP account";
const PARTNER = "Tour Preview Contact";
const EXPECTED = {
    recipient_raw: "6 90 00 00 02",
    recipient_e164: "+237690000002",
    recipient_provider: "CM 690000002",
    variables_text: `customer_name: ${PARTNER}`,
};

registry.category("web_tour.tours").add("notify_rules_rule_preview_tour", {
    url: "/odoo",
    steps: () => [
        ...stepUtils.goToAppSteps("notify_rules.menu_notify_root", "Open the Notifications app"),
        {
            content: "Open Notifications > Rules",
            trigger: '.o_main_navbar [data-menu-xmlid="notify_rules.menu_notify_rules"]',
            run: "click",
        },
        {
            content: "The rules list is shown",
            trigger: '.o_breadcrumb:contains("Rules")',
        },
        {
            content: "Create a rule",
            trigger: ".o_control_panel .o_list_button_add",
            run: "click",
        },
        {
            content: "Rule name",
            trigger: '.o_form_view .o_field_widget[name="name"] input',
            run: "edit Tour: welcome contact",
        },
        ...pickInAutocomplete('.o_form_view .o_field_widget[name="model_id"]', "res.partner", "Contact"),
        {
            content: "Trigger: on creation",
            trigger: '.o_form_view .o_field_widget[name="trigger"] select',
            run: 'select "on_create"',
        },
        {
            content: "The status fields are hidden for 'On creation'",
            trigger: '.o_form_view:not(:has(.o_field_widget[name="state_field_id"]))',
        },
        ...pickInAutocomplete(
            '.o_form_view .o_field_widget[name="provider_account_id"]',
            ACCOUNT,
            ACCOUNT
        ),
        {
            content: "Template reference",
            trigger: '.o_form_view .o_field_widget[name="template_ref"] input',
            run: "edit tpl-partner-welcome",
        },
        {
            content: "Recipient field",
            trigger: '.o_form_view .o_field_widget[name="recipient_path"] input',
            run: "edit mobile",
        },
        {
            content: "Fallback field",
            trigger: '.o_form_view .o_field_widget[name="recipient_fallback_path"] input',
            run: "edit phone",
        },
        {
            content: "Add a variable line",
            trigger: 'div[name="variable_ids"] .o_field_x2many_list_row_add a',
            run: "click",
        },
        {
            content: "Placeholder",
            trigger: 'div[name="variable_ids"] .o_selected_row .o_field_widget[name="name"] input',
            run: "edit customer_name",
        },
        {
            content: "Field path",
            trigger: 'div[name="variable_ids"] .o_selected_row .o_field_widget[name="field_path"] input',
            run: "edit name",
        },
        ...stepUtils.saveForm(),
        {
            content: "No error notification or dialog after saving",
            trigger: "body:not(:has(.o_notification.border-danger, .modal))",
        },
        {
            content: "The variable line was saved",
            trigger: 'div[name="variable_ids"] .o_data_row:contains("customer_name")',
        },
        {
            content: "Open the preview",
            trigger: '.o_form_view .o_form_statusbar button[name="action_preview"]',
            run: "click",
        },
        {
            content: "The preview dialog is open",
            trigger: '.modal .o_form_view .o_field_widget[name="record_ref"]',
        },
        ...pickInAutocomplete('.modal .o_field_widget[name="record_ref"]', PARTNER, PARTNER),
        {
            content: "The preview has been recomputed for the chosen contact",
            trigger: `.modal .o_field_widget[name="variables_text"]:contains("${EXPECTED.variables_text}")`,
        },
        {
            content: "Check the resolved recipient and variables",
            trigger: ".modal .o_notify_preview_result",
            run() {
                checkPreview(EXPECTED);
            },
        },
        {
            content: "Close the preview",
            trigger: ".modal .modal-footer button.btn-secondary",
            run: "click",
        },
        {
            content: "The dialog is closed, back on the rule",
            trigger: "body:not(:has(.modal)) .o_form_view .o_field_widget[name='name']",
        },
    ],
});
