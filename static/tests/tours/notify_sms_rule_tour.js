/** @odoo-module **/
/**
 * Create an SMS rule through the UI (action "Send an SMS", a Chinqit account, an inline SMS text), then
 * preview it on a Mauritanian contact: the rendered text, its length and parts, the provider's number format.
 *
 * Driven by tests/test_tour.py (TestNotifySmsRuleTour), which creates the Chinqit account and the contact
 * (mobile "27 63 56 42", country Mauritania) and checks the saved rule afterwards.
 */
import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";
import { checkPreview, dialogFieldText, pickInAutocomplete as pick } from "@notify_rules/../tests/tours/preview_helpers";

const ACCOUNT = "Tour Chinqit account";
const PARTNER = "Tour Mariem";
const EXPECTED = {
    recipient_e164: "+22227635642",
    recipient_provider: "+22227635642",
    sms_text: `Bonjour ${PARTNER}, votre reçu est prêt.`,
    sms_summary: "41 characters, UCS-2, 1 SMS",
};

registry.category("web_tour.tours").add("notify_rules_sms_rule_tour", {
    url: "/odoo",
    steps: () => [
        ...stepUtils.goToAppSteps("notify_rules.menu_notify_root", "Open the Notifications app"),
        {
            content: "Open Notifications > Rules",
            trigger: '.o_main_navbar [data-menu-xmlid="notify_rules.menu_notify_rules"]',
            run: "click",
        },
        { content: "Create a rule", trigger: ".o_control_panel .o_list_button_add", run: "click" },
        {
            content: "Rule name",
            trigger: '.o_form_view .o_field_widget[name="name"] input',
            run: "edit Tour: SMS welcome",
        },
        ...pick('.o_form_view .o_field_widget[name="model_id"]', "res.partner", "Contact"),
        {
            content: "Trigger: on creation",
            trigger: '.o_form_view .o_field_widget[name="trigger"] select',
            run: 'select "on_create"',
        },
        {
            content: "Action: send an SMS",
            trigger: '.o_form_view .o_field_widget[name="action"] select',
            run: 'select "send_sms"',
        },
        {
            content: "The template reference is hidden for an SMS",
            trigger: '.o_form_view:not(:has(.o_field_widget[name="template_ref"]))',
        },
        ...pick('.o_form_view .o_field_widget[name="provider_account_id"]', ACCOUNT, ACCOUNT),
        {
            content: "SMS text",
            trigger: '.o_form_view .o_field_widget[name="sms_body"] textarea',
            run: "edit Bonjour {{ object.name }}, votre reçu est prêt.",
        },
        {
            content: "Recipient field",
            trigger: '.o_form_view .o_field_widget[name="recipient_path"] input',
            run: "edit mobile",
        },
        ...stepUtils.saveForm(),
        {
            content: "No error notification or dialog after saving",
            trigger: "body:not(:has(.o_notification.border-danger, .modal))",
        },
        {
            content: "Open the preview",
            trigger: '.o_form_view .o_form_statusbar button[name="action_preview"]',
            run: "click",
        },
        ...pick('.modal .o_field_widget[name="record_ref"]', PARTNER, PARTNER),
        {
            content: "The preview shows the SMS text for the chosen contact",
            trigger: `.modal .o_field_widget[name="sms_text"]:contains("${PARTNER}")`,
        },
        {
            content: "Check the text, its length and parts, and the number as Chinqit takes it",
            trigger: ".modal .o_notify_preview_result",
            run() {
                checkPreview(EXPECTED, () => {
                    const delivery = dialogFieldText("delivery_text");
                    return delivery.includes(ACCOUNT) ? [] : [`delivery_text: "${delivery}" does not name ${ACCOUNT}`];
                });
            },
        },
        { content: "Close the preview", trigger: ".modal .modal-footer button.btn-secondary", run: "click" },
        {
            content: "Back on the rule",
            trigger: "body:not(:has(.modal)) .o_form_view .o_field_widget[name='name']",
        },
    ],
});
