/** @odoo-module **/
/**
 * A customer pays their invoice from the portal with their mobile money wallet (the Intech payment provider):
 * Pay Now, the Intech option, the wallet, the number, Pay; the status page then asks them to confirm on their phone.
 * And, once Intech's IPN confirmed it and Odoo's post-processing ran, the invoice page says it is paid.
 *
 * Driven by tests/test_intech_payment.py (TestIntechPaymentTour), which creates the invoice, the Intech account on
 * the simulator and the provider, then dispatches the request, has the simulator send its IPN and runs the cron.
 */
import { registry } from "@web/core/registry";

const INTECH_OPTION = '#pay_with input[name="o_payment_radio"][data-provider-code="intech"]';

registry.category("web_tour.tours").add("notify_intech_payment_tour", {
    steps: () => [
        {
            content: "Pay the invoice",
            trigger: 'a[data-bs-target="#pay_with"]:contains("Pay Now")',
            run: "click",
        },
        {
            content: "Choose mobile money (Intech)",
            trigger: INTECH_OPTION,
            run: "click",
        },
        {
            content: "The Intech option is selected",
            trigger: `${INTECH_OPTION}:checked`,
        },
        {
            content: "Pick the Wave wallet",
            trigger: '#pay_with [name="o_intech_form"] label:contains("CashOut Wave Money")',
            run: "click",
        },
        {
            content: "The Wave wallet is picked",
            trigger: '#pay_with [name="o_intech_form"] input[data-service-code="WAVE_SN_API_CASH_OUT"]:checked',
        },
        {
            content: "Type the wallet number",
            trigger: '#pay_with [name="o_intech_form"] input[name="o_intech_phone"]',
            run: "edit 77 245 71 99",
        },
        {
            content: "Pay",
            trigger: '#pay_with button[name="o_payment_submit_button"]:not(:disabled)',
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The status page asks to confirm on the phone",
            trigger: '[name="o_payment_status_alert"]:contains("Confirm the payment on your phone")',
        },
    ],
});

registry.category("web_tour.tours").add("notify_intech_invoice_paid_tour", {
    steps: () => [
        {
            content: "The invoice says it is paid",
            trigger: '.badge:contains("Paid")',
        },
        {
            content: "Nothing left to pay",
            trigger: 'body:not(:has(a[data-bs-target="#pay_with"]:contains("Pay Now")))',
        },
    ],
});
