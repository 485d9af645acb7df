5
$ff96c761-8914-406e-9460-7eafe8f9bfb3o†v©l±¿"IF;
$d0566229-91d5-455e-9f13-63e68090c45eIï_{f‰?"GAUSSIAN
output-0½U2[äï?"ReLU6":
input-0$ff96c761-8914-406e-9460-7eafe8f9bfb3:0Ê}¼¡Æ? "8
input-0$d0566229-91d5-455e-9f13-63e68090c45eóBQêœö¿":
input-1$ff96c761-8914-406e-9460-7eafe8f9bfb30ªsá|? "8
input-1$d0566229-91d5-455e-9f13-63e68090c45e^¢Õ$Ó|À"
input-1output-0ýAwîbá¿"W
$ff96c761-8914-406e-9460-7eafe8f9bfb3$ff96c761-8914-406e-9460-7eafe8f9bfb3L¹ =Îm­? "9
$ff96c761-8914-406e-9460-7eafe8f9bfb3output-0«ØNJ÷©À"9
$d0566229-91d5-455e-9f13-63e68090c45eoutput-0L¡˜aHÓò¿:&
untrained-error0.08840399319249603:'
untrained-score-0.08948021467191426:
approachfine:
trainID5d895eff:
trainedYES:
error0.04465974584722735:
score-0.0457351210648858:
adjusted4 weights, 1 bias:"
	old-score-0.056613940908180366